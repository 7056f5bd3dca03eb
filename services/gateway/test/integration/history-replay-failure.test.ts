import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import type { HistoryStore } from '@parley/history';
import { createJetStreamHistoryStore } from '@parley/history/jetstream';
import { ParleyError } from '@parley/protocol';
import { startNats, type NatsProcess, type TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';
import { seqsOf, until } from '../history-support.ts';

/**
 * A resume whose replay fails after `joined` went out (JetStream overloaded during a reconnect
 * storm, found by `npm run bench:storm`): the join request was already answered, so the gateway
 * drops the room and says so with an error for the room, without the request id; the client joins
 * again with its last seq and misses nothing. The fault is injected into the real JetStream store:
 * its `after` (the replay's page read) fails while `failReplays` is set.
 */
describe('history replay failing after joined', () => {
  let keys: TestKeys;
  let nats: NatsProcess;
  let bus: NatsBus;
  let gw: TestGateway;
  let failReplays = false;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    nats = await startNats({ jetstream: true });
    bus = await createNatsBus({ servers: nats.url, name: 'replay-failure', connectTimeoutMs: 5_000 });
    const store = createJetStreamHistoryStore(bus.raw);
    const faulty: HistoryStore = Object.assign(Object.create(store) as HistoryStore, {
      after: (ns: string, room: string, after: number, limit: number) =>
        failReplays ? Promise.reject(new ParleyError('history_unavailable', 'injected: JetStream did not answer')) : store.after(ns, room, after, limit),
    });
    gw = await startTestGateway(keys, { bus, history: faulty });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw.gateway.close();
    await bus.close();
    await nats.cleanup();
  });

  it('history - the room is dropped with an error for it (no request id), and a join with since gets every message', async () => {
    const token = (sub: string) => mintToken(keys, { sub, ns: 'storm', hist: true });
    // The writer is no member: no feed of the room runs on this gateway before the reader joins,
    // so the reader's resume cannot be served from a feed's recent messages and reads the store.
    const writer = await join(gw.wsUrl, await token('writer'));
    clients.push(writer);
    const seqs: number[] = [];
    for (let n = 0; n < 3; n++) seqs.push(Number((await writer.request({ type: 'publish', room: 'room', data: n })).seq));

    const reader = await join(gw.wsUrl, await token('reader'));
    clients.push(reader);
    failReplays = true;
    expect(await reader.request({ type: 'join', room: 'room', since: seqs[0] })).toMatchObject({ type: 'joined', room: 'room' });
    const dropped = await reader.waitFor((f) => f.type === 'error' && f.room === 'room');
    expect(dropped).toMatchObject({ code: 'history_unavailable', temporary: true });
    expect(dropped).not.toHaveProperty('id');
    failReplays = false;

    // Dropped for real: leaving is refused as not joined; joining again with the seq it had loses nothing.
    expect(await reader.request({ type: 'leave', room: 'room' })).toMatchObject({ type: 'error', code: 'not_joined' });
    seqs.push(Number((await writer.request({ type: 'publish', room: 'room', data: 3 })).seq));
    expect(await reader.request({ type: 'join', room: 'room', since: seqs[0] })).toMatchObject({ type: 'joined' });
    await until(() => seqsOf(reader, 'room').includes(seqs[3]!), 'the replay and the live message');
    expect(seqsOf(reader, 'room')).toEqual(seqs.slice(1));
  });
});
