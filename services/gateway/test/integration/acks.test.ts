import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { parseExposition, sumSamples } from '@parley/observability';
import { startNats, type ServerProcess, type TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';

/**
 * Acks on a real nats-server: one flush round trip confirms a batch of publishes, and the acks it
 * settles for one socket leave together (`sendBatched`). Every publish still gets its own ack.
 */
describe('gateway - acks of publishes in flight', () => {
  let nats: ServerProcess;
  let bus: NatsBus;
  let keys: TestKeys;
  let gw: TestGateway;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats();
    bus = await createNatsBus({ servers: nats.url, name: 'acks-test' });
    keys = await createTestKeys();
    gw = await startTestGateway(keys, { bus });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw?.gateway.close();
    await bus?.close();
    await nats?.stop();
  });

  const counted = async () => {
    const metrics = parseExposition(await gw.registry.metrics());
    return {
      acks: sumSamples(metrics, 'parley_gateway_frames_sent_total', { type: 'ack' }),
      publishFrames: sumSamples(metrics, 'parley_gateway_frames_received_total', { type: 'publish' }),
      published: sumSamples(metrics, 'parley_gateway_messages_published_total', { tenant: 'acme', kind: 'room' }),
      direct: sumSamples(metrics, 'parley_gateway_messages_published_total', { tenant: 'acme', kind: 'direct' }),
      delivered: sumSamples(metrics, 'parley_gateway_bus_deliveries_total', { kind: 'room' }),
    };
  };

  it('acks - a client with 500 publishes and 100 direct messages in flight gets one ack for each, with its id; the counters count them', async () => {
    const before = await counted();
    const lim = { messagesPerSecond: 10_000, burst: 10_000 };
    const a = await join(gw.wsUrl, await mintToken(keys, { sub: 'frank', lim }), ['burst']);
    const b = await join(gw.wsUrl, await mintToken(keys, { sub: 'grace', lim }), []);
    clients.push(a, b);
    for (let i = 0; i < 600; i++) {
      a.send(i % 6 === 5 ? { type: 'direct', to: 'grace', data: i, id: `d${i}` } : { type: 'publish', room: 'burst', data: i, id: `p${i}` });
    }
    for (let i = 0; i < 600; i++) await a.waitFor((f) => f.type === 'ack' && f.id === (i % 6 === 5 ? `d${i}` : `p${i}`), 15_000);
    expect(a.all('ack')).toHaveLength(600);
    expect(new Set(a.all('ack').map((f) => f.msgId)).size).toBe(600);
    // Every message went out too, in order.
    const echoed = [];
    for (let i = 0; i < 500; i++) echoed.push((await a.waitFor('message', 15_000)).data);
    expect(echoed).toEqual([...Array(600).keys()].filter((i) => i % 6 !== 5));
    const directs = [];
    for (let i = 0; i < 100; i++) directs.push((await b.waitFor('direct', 15_000)).data);
    expect(directs).toEqual([...Array(600).keys()].filter((i) => i % 6 === 5));
    // A reply sent straight after them still arrives.
    expect((await a.request({ type: 'ping' })).type).toBe('pong');

    const after = await counted();
    expect(after.acks - before.acks).toBe(600);
    expect(after.publishFrames - before.publishFrames).toBe(500);
    expect(after.published - before.published).toBe(500);
    expect(after.direct - before.direct).toBe(100);
    expect(after.delivered - before.delivered).toBe(500);
  });
});
