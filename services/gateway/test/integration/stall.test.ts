import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, type NatsProcess, type TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, type TestKeys } from '../support.ts';
import { startGatewayProcess, startJwksServer, type GatewayProcess } from '../gateway-process.ts';
import { until } from '../history-support.ts';

const RATE = { messagesPerSecond: 20, burst: 40 };

describe('a stalled gateway', () => {
  let keys: TestKeys;
  let nats: NatsProcess;
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  let gw: GatewayProcess;
  let client: TestClient;

  beforeAll(async () => {
    keys = await createTestKeys();
    nats = await startNats();
    jwks = await startJwksServer([keys]);
    gw = await startGatewayProcess({ natsUrl: nats.url, jwksUrl: jwks.url, gatewayId: 'stall' });
  });
  afterAll(async () => {
    gw?.child.kill('SIGCONT');
    await client?.close();
    await gw?.kill();
    await jwks?.close();
    await nats?.cleanup();
  });

  it('stall - publishes sent at an allowed pace while the gateway was frozen are all accepted when it resumes, not refused as a burst', async () => {
    client = await join(gw.wsUrl, await mintToken(keys, { sub: 'steady', lim: RATE }), ['room']);
    gw.child.kill('SIGSTOP');
    // 15 a second (the limit is 20) for 5 s, all of it while the gateway is frozen.
    const sent = 75;
    for (let i = 0; i < sent; i++) {
      client.send({ type: 'publish', id: `s${i}`, room: 'room', data: i });
      await new Promise((r) => setTimeout(r, 1000 / 15));
    }
    gw.child.kill('SIGCONT');
    const replies = () => client.frames.filter((f) => typeof f.id === 'string' && f.id.startsWith('s'));
    await until(() => replies().length === sent, 'a reply to every publish', 15_000);
    expect(replies().filter((f) => f.type !== 'ack')).toEqual([]);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^parley_gateway_stalls_total(\{[^}]*\})? [1-9]/m);
  });
});
