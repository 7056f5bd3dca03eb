import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsSubscriptions, type TestClient } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, type Cluster } from '../src/index.ts';

let cluster: Cluster;
const open: TestClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ gateways: 2, jetstream: false, natsServers: 3, env: { PARLEY_LOG_LEVEL: 'warn' } });
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
});

describe('nats cluster', () => {
  it('nats cluster - the server a gateway uses dies; the gateway fails over and delivery continues', async () => {
    const servers = cluster.natsCluster!.servers;
    // Which server holds gateway-1's connection?
    let home;
    for (const s of servers) if ((await natsSubscriptions(s.monitorUrl!, 'gateway-gateway-1')).length > 0) home = s;
    expect(home).toBeDefined();
    const a = await connectUser(cluster.gateways[0]!, await mintUserToken(cluster, 'na'), ['ring']);
    const b = await connectUser(cluster.gateways[1]!, await mintUserToken(cluster, 'nb'), ['ring']);
    open.push(a, b);
    await a.request({ type: 'publish', room: 'ring', data: 1 });
    await b.waitFor((f) => f.type === 'message' && f.data === 1);

    await home!.stop();
    const deadline = Date.now() + 15_000;
    for (let n = 2; ; n++) {
      const reply = await a.request({ type: 'publish', room: 'ring', data: n });
      if (reply.type === 'ack') {
        await b.waitFor((f) => f.type === 'message' && f.data === n, 10_000);
        await b.request({ type: 'publish', room: 'ring', data: 'back' });
        await a.waitFor((f) => f.type === 'message' && f.data === 'back', 10_000);
        break;
      }
      expect(reply.code).toBe('unavailable');
      if (Date.now() > deadline) throw new Error('no failover within 15 s');
      await new Promise((r) => setTimeout(r, 200));
    }
  });
});
