import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { createJetStreamHistoryStore } from '@parley/history/jetstream';
import { startNats, type NatsProcess, type TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';

describe('history without JetStream', () => {
  let keys: TestKeys;
  let nats: NatsProcess;
  let bus: NatsBus;
  let gw: TestGateway;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    nats = await startNats(); // no -js
    bus = await createNatsBus({ servers: nats.url, name: 'no-js', connectTimeoutMs: 5_000 });
    gw = await startTestGateway(keys, { bus, history: createJetStreamHistoryStore(bus.raw, { requestTimeoutMs: 1000 }) });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw.gateway.close();
    await bus.close();
    await nats.cleanup();
  });

  it('unavailable - a history tenant is refused with history_unavailable and readiness says JetStream is missing; plain tenants still work', async () => {
    expect((await fetch(`${gw.gateway.url}/readyz`)).status).toBe(200);
    const plain = await join(gw.wsUrl, await mintToken(keys, { sub: 'plain', ns: 'plain' }), ['room']);
    clients.push(plain);
    const hist = await join(gw.wsUrl, await mintToken(keys, { sub: 'hist', ns: 'hist', hist: true }));
    clients.push(hist);
    expect(await hist.request({ type: 'join', room: 'room' })).toMatchObject({ type: 'error', code: 'history_unavailable', room: 'room' });
    expect(await hist.request({ type: 'publish', room: 'room', data: 1 })).toMatchObject({ type: 'error', code: 'history_unavailable' });
    const ready = await fetch(`${gw.gateway.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/JetStream/);
    // The failed join left nothing behind: joining again is not "already joined".
    expect(await hist.request({ type: 'join', room: 'room' })).toMatchObject({ code: 'history_unavailable' });
    expect((await plain.request({ type: 'publish', room: 'room', data: 'still here' })).type).toBe('ack');
    expect((await plain.waitFor('message')).data).toBe('still here');
  });
});
