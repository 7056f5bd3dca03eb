import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@parley/protocol';
import { connectClient, type TestClient } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, wsUrl, type Cluster } from '../src/index.ts';
import { createTenant, metric, until } from './support.ts';

/**
 * Regression (issue #18, defect 1): one tenant revoking more users than a gateway remembers must
 * not un-revoke another tenant's user. The bounds are reduced by environment so the test is fast:
 * auth accepts 60 live revocations per tenant, gateways remember 50 per tenant (smaller on purpose,
 * so the gateway's own per-tenant bound is reached too).
 */
const AUTH_BOUND = 60;
const GATEWAY_BOUND = 50;

let cluster: Cluster;
const open: TestClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({
    gateways: 1,
    jetstream: true,
    env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '100', PARLEY_MAX_REVOCATIONS_PER_TENANT: String(AUTH_BOUND) },
    gatewayEnv: { PARLEY_MAX_REVOCATIONS_PER_TENANT: String(GATEWAY_BOUND) },
  });
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
});

const revoke = (apiKey: string, user: string) => fetch(`${cluster.auth.url}/v1/users/${user}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` } });

describe('tenant isolation: revocations', () => {
  it("isolation - a tenant revoking past every bound does not un-revoke another tenant's user; past its bound it gets 429 too_many_revocations", async () => {
    const noisyKey = await createTenant(cluster, 'noisy');
    const victimToken = await mintUserToken(cluster, 'compromised');
    await new Promise((r) => setTimeout(r, 1100)); // tokens minted in the revoking second are exempt (iat after it)
    expect((await revoke(cluster.demoApiKey, 'compromised')).status).toBe(202);
    const first = await connectClient(wsUrl(cluster.gateways[0]!), { token: victimToken });
    open.push(first);
    expect((await first.closed).code).toBe(CLOSE_CODES.token_revoked);

    const statuses: number[] = [];
    let refusal: unknown;
    for (let i = 0; i < AUTH_BOUND + 10; i++) {
      const res = await revoke(noisyKey, `user-${i}`);
      statuses.push(res.status);
      if (res.status !== 202) refusal = await res.json();
    }
    expect(statuses.filter((s) => s === 202)).toHaveLength(AUTH_BOUND);
    expect(statuses.slice(AUTH_BOUND).every((s) => s === 429)).toBe(true);
    expect(refusal).toMatchObject({ code: 'too_many_revocations', temporary: true });
    expect(await metric(cluster.auth.url, 'parley_auth_revocations_refused_total')).toBe(10);
    // The gateway has heard every accepted revocation: it forgot the noisy tenant's oldest ones.
    await until(async () => (await metric(cluster.gateways[0]!.url, 'parley_gateway_revocations_evicted_total')) === AUTH_BOUND - GATEWAY_BOUND);

    const again = await connectClient(wsUrl(cluster.gateways[0]!), { token: victimToken });
    open.push(again);
    expect((await again.waitFor('error')).code).toBe('token_revoked');
    expect((await again.closed).code).toBe(CLOSE_CODES.token_revoked);

    // A gateway started now replays the control log with the same bound: still refused.
    const late = await cluster.addGateway();
    const onLate = await connectClient(wsUrl(late), { token: victimToken });
    open.push(onLate);
    expect((await onLate.closed).code).toBe(CLOSE_CODES.token_revoked);

    // The victim tenant can still revoke, and its fresh tokens work.
    expect((await revoke(cluster.demoApiKey, 'another')).status).toBe(202);
    const fresh = await connectUser(cluster.gateways[0]!, await mintUserToken(cluster, 'compromised'));
    open.push(fresh);
    expect(fresh.isClosed).toBe(false);
  });
});
