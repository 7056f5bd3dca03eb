import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { startNats, type NatsProcess } from '@parley/testkit';
import { createNatsBus, ensureControlStream, readControlLog, type NatsBus } from '../src/nats.ts';

describe('control log (past revocations for gateways started later)', () => {
  let nats: NatsProcess;
  let bus: NatsBus;
  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    bus = await createNatsBus({ servers: nats.url, name: 'control-log', connectTimeoutMs: 5_000 });
  });
  afterAll(async () => {
    await bus?.close();
    await nats?.cleanup();
  });

  it('control log - before auth created the stream (a fresh install) there is nothing to replay, and no error', async () => {
    await expect(readControlLog(bus.raw)).resolves.toEqual([]);
  });

  it('control log - every control message kept, oldest first', async () => {
    await ensureControlStream(bus.raw);
    const encoder = new TextEncoder();
    const js = jetstream(bus.raw);
    for (const n of [1, 2, 3]) await js.publish('ctl.revoke', encoder.encode(`{"n":${n}}`));
    const past = await readControlLog(bus.raw);
    expect(past.map((m) => [m.subject, new TextDecoder().decode(m.data)])).toEqual([
      ['ctl.revoke', '{"n":1}'],
      ['ctl.revoke', '{"n":2}'],
      ['ctl.revoke', '{"n":3}'],
    ]);
  });

  it('control log - without JetStream it fails (the gateway warns that past revocations are unknown)', async () => {
    const plain = await startNats();
    const plainBus = await createNatsBus({ servers: plain.url, name: 'control-log-plain', connectTimeoutMs: 5_000 });
    try {
      await expect(readControlLog(plainBus.raw)).rejects.toThrow();
    } finally {
      await plainBus.close();
      await plain.cleanup();
    }
  });
});
