import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@parley/protocol';
import { connectClient, httpFrom, type TestClient } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, wsUrl, type Cluster } from '../src/index.ts';
import { admin, createTenant } from './support.ts';

/**
 * The noisy neighbour (issue #18): one tenant at its limits on every axis at once (connections,
 * publishes, refreshes, revocations, admin writes, failed credentials) while another tenant's
 * clients keep their guarantees (every acknowledged message delivered once and in order, new
 * connections, tokens, revocations and admin writes served) and a bounded latency.
 */
const NOISY_CONNECTIONS = 12;
const REVOCATION_BOUND = 40;

let cluster: Cluster;
let noisyKey: string;
const open: TestClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({
    gateways: 1,
    jetstream: false,
    env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '0', PARLEY_MAX_REVOCATIONS_PER_TENANT: String(REVOCATION_BOUND) },
  });
  noisyKey = await createTenant(cluster, 'noisy', { maxConnections: NOISY_CONNECTIONS, messagesPerSecond: 5, burst: 5 });
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
});

/** A token with the real `kid` whose signature does not verify. */
const forged = (token: string) => `${token.slice(0, -6)}${token.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA'}`;

describe('noisy neighbour', () => {
  it("noisy neighbour - a tenant at every limit at once leaves another tenant's guarantees and latency intact", async () => {
    const gateway = cluster.gateways[0]!;
    const quietKey = cluster.demoApiKey;
    const sender = await connectUser(gateway, await mintUserToken(cluster, 'quiet-sender'), ['calm']);
    const receiver = await connectUser(gateway, await mintUserToken(cluster, 'quiet-receiver'), ['calm']);
    open.push(sender, receiver);

    // The noisy tenant: connections up to its limit and past it.
    const noisyToken = await mintUserToken(cluster, 'noisy-user', { apiKey: noisyKey });
    const noisy: TestClient[] = [];
    const refusedConnections: number[] = [];
    for (let i = 0; i < NOISY_CONNECTIONS + 4; i++) {
      const c = await connectClient(wsUrl(gateway), { token: noisyToken });
      open.push(c);
      const first = await c.waitFor(() => true, 5_000).catch(() => undefined);
      if (first?.type === 'welcome') noisy.push(c);
      else refusedConnections.push((await c.closed).code);
    }
    expect(noisy).toHaveLength(NOISY_CONNECTIONS);
    expect(refusedConnections).toEqual(Array(4).fill(CLOSE_CODES.too_many_connections));

    // Everything else at once: publish floods, bad-signature refresh floods, revocations past the
    // bound, admin writes, failed credentials from its own address.
    const badRefresh = JSON.stringify({ type: 'refresh', token: forged(noisyToken) });
    const floods = noisy.map((c, i) => {
      for (let n = 0; n < 2_000 && !c.isClosed; n++) {
        c.sendRaw(i % 2 === 0 ? JSON.stringify({ type: 'publish', room: 'loud', data: { n, pad: 'x'.repeat(200) } }) : badRefresh);
      }
      return c.closed;
    });
    const revocations = (async () => {
      const statuses: number[] = [];
      for (let i = 0; i < REVOCATION_BOUND + 10; i++) {
        const res = await fetch(`${cluster.auth.url}/v1/users/u${i}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${noisyKey}` } });
        statuses.push(res.status);
      }
      return statuses;
    })();
    const adminWrites = Promise.all(
      Array.from({ length: 30 }, (_, i) => admin(cluster, '/v1/admin/tenants/noisy', { method: 'PATCH', body: JSON.stringify({ settings: { maxRooms: 10 + i } }) }).then((r) => r.status)),
    );
    const guesses = (async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) {
        const res = await httpFrom('127.0.0.2', `${cluster.auth.url}/v1/whoami`, { headers: { authorization: `Bearer pk_noisy_${randomBytes(24).toString('base64url')}` } });
        statuses.push(res.status);
      }
      return statuses;
    })();

    // Meanwhile the quiet tenant: acknowledged publishes, pings, a new connection, a token, a
    // revocation and an admin write of its own.
    const sent: number[] = [];
    let worstMs = 0;
    for (let n = 0; n < 40; n++) {
      const at = Date.now();
      const ack = await sender.request({ type: 'publish', room: 'calm', data: { n } }, 10_000);
      expect(ack.type, JSON.stringify(ack)).toBe('ack');
      sent.push(n);
      const pong = await receiver.request({ type: 'ping' }, 10_000);
      expect(pong.type).toBe('pong');
      worstMs = Math.max(worstMs, Date.now() - at);
    }
    const late = await connectUser(gateway, await mintUserToken(cluster, 'quiet-late'), ['calm']);
    open.push(late);
    expect((await fetch(`${cluster.auth.url}/v1/users/someone/revoke`, { method: 'POST', headers: { authorization: `Bearer ${quietKey}` } })).status).toBe(202);
    expect((await admin(cluster, `/v1/admin/tenants/${cluster.demoNamespace}`, { method: 'PATCH', body: JSON.stringify({ settings: { maxRooms: 100 } }) })).status).toBe(200);
    expect((await httpFrom('127.0.0.3', `${cluster.auth.url}/v1/whoami`, { headers: { authorization: `Bearer ${quietKey}` } })).status).toBe(200);

    // The noisy tenant got its documented answers.
    const closes = await Promise.all(floods);
    for (const { code } of closes) expect([CLOSE_CODES.rate_limited, CLOSE_CODES.protocol_violation]).toContain(code);
    const revoked = await revocations;
    expect(revoked.filter((s) => s === 202)).toHaveLength(REVOCATION_BOUND);
    expect(revoked.filter((s) => s === 429)).toHaveLength(10);
    expect((await adminWrites).every((s) => s === 200)).toBe(true);
    expect((await guesses).filter((s) => s === 429).length).toBeGreaterThan(0);

    // The quiet tenant's guarantees: every acknowledged message delivered once, in order.
    for (const n of sent) await receiver.waitFor((f) => f.type === 'message' && f.room === 'calm' && (f.data as { n: number }).n === n, 10_000);
    const received = receiver.all('message').filter((f) => f.room === 'calm').map((f) => (f.data as { n: number }).n);
    expect(received).toEqual(sent);
    expect(receiver.all('message').some((f) => f.room === 'loud')).toBe(false);
    expect(receiver.isClosed || sender.isClosed).toBe(false);
    // Bounded, not a benchmark: publish, ack, delivery and a ping took milliseconds each.
    expect(worstMs).toBeLessThan(2_000);
  }, 90_000);
});
