import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@parley/protocol';
import { connectClient, type TestClient } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, wsUrl, type Cluster } from '../src/index.ts';

let cluster: Cluster;
const open: TestClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ gateways: 1, jetstream: true, env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '100' } });
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
});

describe('revocation', () => {
  it('revocation - live connections close at once, and a gateway started afterwards still refuses the revoked tokens', async () => {
    const oldToken = await mintUserToken(cluster, 'leaver');
    const live = await connectUser(cluster.gateways[0]!, oldToken);
    await new Promise((r) => setTimeout(r, 1100)); // tokens minted in the revoking second are exempt (iat after it)
    const res = await fetch(`${cluster.auth.url}/v1/users/leaver/revoke`, { method: 'POST', headers: { authorization: `Bearer ${cluster.demoApiKey}` } });
    expect(res.status).toBe(202);
    expect((await live.closed).code).toBe(CLOSE_CODES.token_revoked);

    const late = await cluster.addGateway();
    const refused = await connectClient(wsUrl(late), { token: oldToken });
    open.push(refused);
    expect((await refused.waitFor('error')).code).toBe('token_revoked');
    expect((await refused.closed).code).toBe(CLOSE_CODES.token_revoked);

    const fresh = await connectUser(late, await mintUserToken(cluster, 'leaver'));
    open.push(fresh);
    expect(fresh.isClosed).toBe(false);
  });
});
