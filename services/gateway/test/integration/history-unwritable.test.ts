import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import type { HistoryStore } from '@parley/history';
import { createJetStreamHistoryStore, streamName } from '@parley/history/jetstream';
import { startNatsCluster, type NatsCluster, type TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';
import { until } from '../history-support.ts';

describe('readiness when history cannot be written', () => {
  let keys: TestKeys;
  let nats: NatsCluster;
  let bus: NatsBus;
  let history: HistoryStore;
  let gw: TestGateway;
  let client: TestClient;

  beforeAll(async () => {
    keys = await createTestKeys();
    nats = await startNatsCluster(3, { jetstream: true });
    bus = await createNatsBus({ servers: nats.urls, name: 'unwritable', connectTimeoutMs: 5_000, reconnectWaitMs: 50, reconnectJitterMs: 0 });
    history = createJetStreamHistoryStore(bus.raw, { replicas: 1, requestTimeoutMs: 1_000, reprobeIntervalMs: 200 });
    gw = await startTestGateway(keys, { bus, history });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await gw?.gateway.close();
    await history?.close();
    await bus?.close();
    await nats?.stop();
  });

  const readiness = async () => {
    const response = await fetch(`${gw.gateway.url}/readyz`);
    const body = (await response.json()) as { reason?: string; degraded?: string };
    return { status: response.status, reason: body.reason, degraded: body.degraded };
  };

  it('unwritable - with one history replica, losing its NATS server makes publishes fail and /readyz and a metric say so, until the server is back', async () => {
    client = await join(gw.wsUrl, await mintToken(keys, { sub: 'writer', hist: true }));
    // A fresh JetStream cluster elects its meta leader first: the first publishes may be refused.
    await until(async () => (await client.request({ type: 'publish', room: 'r', data: 'first' }, 10_000)).type === 'ack', 'a first stored publish', 30_000);
    expect((await readiness()).status).toBe(200);
    const info = await (await jetstreamManager(bus.raw)).streams.info(streamName('acme'));
    // The single replica lives on the stream's leader.
    const holder = nats.serverNamed(info.cluster?.leader ?? '');
    expect(holder).toBeDefined();

    await holder?.stop();
    let refused: Record<string, unknown> | undefined;
    await until(async () => {
      const reply = await client.request({ type: 'publish', room: 'r', data: 'lost node' }, 10_000);
      if (reply.type === 'error') refused = reply;
      return refused?.code === 'history_unavailable';
    }, 'a publish refused with history_unavailable', 30_000);
    // Still ready (plain tenants and reads work; refusing connections would not help), but says so.
    const degraded = await readiness();
    expect(degraded.status).toBe(200);
    expect(degraded.degraded).toMatch(/history cannot be written/);
    expect(await (await fetch(`${gw.gateway.url}/metrics`)).text()).toMatch(/^parley_gateway_history_writable(\{[^}]*\})? 0$/m);

    await holder?.restart();
    await until(async () => (await readiness()).degraded === undefined, 'readiness to drop the degradation once the stream is back', 30_000);
    await until(async () => (await client.request({ type: 'publish', room: 'r', data: 'back' }, 10_000)).type === 'ack', 'a stored publish', 30_000);
  });
});
