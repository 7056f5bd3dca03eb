import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@parley/protocol';
import { freePort, httpFrom, type TestClient } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, type Cluster } from '../src/index.ts';
import { createTenant, metric, until } from './support.ts';

/** Regressions of issue #18 against real processes: what one hostile client must not do to others. */
let cluster: Cluster;
let otherKey: string;
let gatewayMetricsPort: number;
const open: TestClient[] = [];

beforeAll(async () => {
  gatewayMetricsPort = await freePort();
  cluster = await startCluster({
    gateways: 1,
    jetstream: false,
    env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '100' },
    gatewayEnv: { PARLEY_METRICS_PORT: String(gatewayMetricsPort) },
  });
  otherKey = await createTenant(cluster, 'bystanders');
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
});

/** A token with the real `kid` whose signature does not verify. */
function forged(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
  return `${header}.${payload}.${flipped}`;
}

describe('hostile clients', () => {
  it("hostile - a flood of bad-signature refreshes gets its socket closed, and another tenant's client is still answered", async () => {
    const gateway = cluster.gateways[0]!;
    const bystander = await connectUser(gateway, await mintUserToken(cluster, 'calm', { apiKey: otherKey }));
    open.push(bystander);
    const attacker = await connectUser(gateway, await mintUserToken(cluster, 'mallory'));
    open.push(attacker);
    const bad = JSON.stringify({ type: 'refresh', token: forged(await mintUserToken(cluster, 'mallory')) });
    const invalidBefore = await metric(gateway.url, 'parley_gateway_errors_total', 'code="token_invalid"');

    for (let i = 0; i < 20_000 && !attacker.isClosed; i++) attacker.sendRaw(bad);
    let worstPongMs = 0;
    while (!attacker.isClosed) {
      const sent = Date.now();
      expect((await bystander.request({ type: 'ping' }, 10_000)).type).toBe('pong');
      worstPongMs = Math.max(worstPongMs, Date.now() - sent);
    }
    const { code } = await attacker.closed;
    expect([CLOSE_CODES.rate_limited, CLOSE_CODES.protocol_violation]).toContain(code);
    // The gateway checked a burst's worth of signatures, not 20,000.
    const checked = (await metric(gateway.url, 'parley_gateway_errors_total', 'code="token_invalid"')) - invalidBefore;
    expect(checked).toBeGreaterThan(0);
    expect(checked).toBeLessThanOrEqual(60);
    for (let i = 0; i < 5; i++) {
      const sent = Date.now();
      expect((await bystander.request({ type: 'ping' })).type).toBe('pong');
      worstPongMs = Math.max(worstPongMs, Date.now() - sent);
    }
    // Bounded, not a benchmark: the defect was a 7.3 s wait.
    expect(worstPongMs).toBeLessThan(2_000);
  });

  it('hostile - refused refreshes within the rate are violations: the 20th closes the socket with 4103', async () => {
    const attacker = await connectUser(cluster.gateways[0]!, await mintUserToken(cluster, 'mallory'));
    open.push(attacker);
    const token = forged(await mintUserToken(cluster, 'mallory'));
    for (let i = 0; i < 19; i++) expect((await attacker.request({ type: 'refresh', token })).code).toBe('token_invalid');
    attacker.send({ type: 'refresh', token });
    expect((await attacker.closed).code).toBe(CLOSE_CODES.protocol_violation);
    await until(() => attacker.isClosed);
  });

  it('hostile - valid refreshes do not refill the rate budget', async () => {
    const client = await connectUser(cluster.gateways[0]!, await mintUserToken(cluster, 'refresher'), ['lobby']);
    open.push(client);
    const fresh = await mintUserToken(cluster, 'refresher');
    let limited = 0;
    for (let round = 0; round < 5 && !client.isClosed; round++) {
      const reply = await client.request({ type: 'refresh', token: fresh }).catch(() => undefined);
      if (reply?.code === 'rate_limited') limited++;
      const replies = await Promise.all(Array.from({ length: 30 }, (_, n) => client.request({ type: 'publish', room: 'lobby', data: { round, n } }).catch(() => undefined)));
      limited += replies.filter((r) => r?.code === 'rate_limited').length;
    }
    // 155 frames in well under the 6 s that 40 + 20/s would take: some must be refused (and a
    // client that keeps going is closed as a flood).
    expect(limited).toBeGreaterThan(0);
    if (client.isClosed) expect((await client.closed).code).toBe(CLOSE_CODES.rate_limited);
  });

  it("hostile - 11 random API keys from one client at the presence API do not make another client's valid key fail", async () => {
    const attacker = '127.0.0.2';
    const victim = '127.0.0.3';
    const count = (from: string, key: string) =>
      httpFrom(from, `${cluster.presence.url}/v1/rooms/lobby/count`, { headers: { authorization: `Bearer ${key}` } });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await count(attacker, `pk_demo_${randomBytes(24).toString('base64url')}`)).status);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses[10]).toBe(429);
    // Another client, with a key presence has not seen yet: through presence and at auth directly.
    const viaPresence = await count(victim, otherKey);
    expect(viaPresence.status).toBe(200);
    const atAuth = await httpFrom(victim, `${cluster.auth.url}/v1/whoami`, { headers: { authorization: `Bearer ${cluster.demoApiKey}` } });
    expect(atAuth.status).toBe(200);
    // The attacker itself stays refused, whatever key it presents next.
    expect((await count(attacker, `pk_demo_${randomBytes(24).toString('base64url')}`)).status).toBe(429);
  });

  it("hostile - 11 forged user tokens from one client at the presence API are limited to that client; another client's token still works", async () => {
    const attacker = '127.0.0.4';
    const victim = '127.0.0.5';
    const count = (from: string, token: string) =>
      httpFrom(from, `${cluster.presence.url}/v1/rooms/lobby/count`, { headers: { authorization: `Bearer ${token}` } });
    const failuresBefore = await metric(cluster.presence.url, 'parley_presence_user_token_failures_total');
    const bad = forged(await mintUserToken(cluster, 'mallory'));
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await count(attacker, bad)).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    const refused = await count(attacker, await mintUserToken(cluster, 'mallory')); // even a valid one now
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(refused.body).code).toBe('rate_limited');
    expect((await count(victim, await mintUserToken(cluster, 'alice'))).status).toBe(200);
    expect((await metric(cluster.presence.url, 'parley_presence_user_token_failures_total')) - failuresBefore).toBeGreaterThanOrEqual(11);
  });

  it('hostile - 100 concurrent wrong API keys from one client at auth: at most 32 are checked; 32 concurrent valid requests of another client all pass', async () => {
    const guesser = '127.0.0.6';
    const answers = await Promise.all(
      Array.from({ length: 100 }, () =>
        httpFrom(guesser, `${cluster.auth.url}/v1/whoami`, { headers: { authorization: `Bearer pk_demo_${randomBytes(24).toString('base64url')}` } }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(32);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(68);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    // Its failures spent its allowance: it stays refused, whatever it presents.
    expect((await httpFrom(guesser, `${cluster.auth.url}/v1/whoami`, { headers: { authorization: `Bearer ${cluster.demoApiKey}` } })).status).toBe(429);
    // A tenant backend minting tokens in parallel is never limited by this.
    const mints = await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        httpFrom('127.0.0.7', `${cluster.auth.url}/v1/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${cluster.demoApiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ user: `parallel-${i}`, grants: {} }),
        }),
      ),
    );
    expect(mints.map((m) => m.status)).toEqual(Array(32).fill(200));
  });

  it('hostile - anonymous GET /metrics on the public ports names no tenant; the private metrics port does', async () => {
    const live = await connectUser(cluster.gateways[0]!, await mintUserToken(cluster, 'counted', { apiKey: otherKey }));
    open.push(live);
    for (const service of [cluster.gateways[0]!, cluster.auth, cluster.presence]) {
      const res = await fetch(`${service.url}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text, service.url).not.toContain('tenant=');
      expect(text, service.url).not.toContain('bystanders');
    }
    const publicText = await (await fetch(`${cluster.gateways[0]!.url}/metrics`)).text();
    expect(publicText).toMatch(/^parley_gateway_connections\{service="gateway"\} [1-9]/m);
    const privateText = await (await fetch(`http://127.0.0.1:${gatewayMetricsPort}/metrics`)).text();
    expect(privateText).toContain('tenant="bystanders"');
    expect((await fetch(`http://127.0.0.1:${gatewayMetricsPort}/v1/tokens`)).status).toBe(404);
  });
});
