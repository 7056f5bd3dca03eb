import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connectUser, mintUserToken, startCluster, type Cluster } from '../src/index.ts';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({ gateways: 1, jetstream: false, env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '200' } });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

const admin = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${cluster.auth.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });

async function readiness() {
  const res = await fetch(`${cluster.auth.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; reason?: string } };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('tenant durability', () => {
  it('durability - auth\'s Redis SIGKILLed and restarted: no tenant or API key is lost, and auth is ready again', async () => {
    expect((await admin('/v1/admin/tenants', 'POST', { ns: 'durable' })).status).toBe(201);
    const { key } = (await (await admin('/v1/admin/tenants/durable/keys', 'POST')).json()) as { key: string };

    await cluster.authRedis.stop('SIGKILL');
    await until(async () => (await readiness()).status === 503, 'auth to report its store unreachable');
    await cluster.authRedis.restart();
    await until(async () => (await readiness()).status === 200, 'auth to be ready again');

    const tenants = (await (await admin('/v1/admin/tenants')).json()) as { tenants: Array<{ ns: string }> };
    expect(tenants.tenants.map((t) => t.ns)).toEqual(expect.arrayContaining(['durable', cluster.demoNamespace]));
    const client = await connectUser(cluster.gateways[0]!, await mintUserToken(cluster, 'survivor', { apiKey: key }), ['room']);
    expect((await client.request({ type: 'publish', room: 'room', data: 'still here' })).type).toBe('ack');
    await client.close();
  });

  it('durability - auth turns unready when its store is emptied under it, saying that the data was lost', async () => {
    const redis = new Redis(cluster.authRedis.url);
    try {
      await redis.flushall();
    } finally {
      redis.disconnect();
    }
    const ready = await readiness();
    expect(ready.status).toBe(503);
    expect(ready.body.reason).toMatch(/lost its data/);
  });
});
