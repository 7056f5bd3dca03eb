import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryPresenceStore } from '@parley/presence-store';
import { buildApp, eventually, get, startFakeAuth, type FakeAuth } from './support.ts';

describe('presence api through an auth outage', () => {
  let auth: FakeAuth;

  beforeAll(async () => {
    auth = await startFakeAuth({});
  });
  afterAll(async () => {
    await auth?.close();
  });

  it('auth outage - with a cold key cache and auth unreachable, a valid user token gets a retryable 503 auth_unavailable (not 401), then 200 once auth is back', async () => {
    auth.jwksDown = true;
    const app = buildApp(createMemoryPresenceStore(), auth);
    const token = await auth.token({ sub: 'ann', ns: 'acme', grants: { lobby: ['presence'] } });
    const refused = await get(app, '/v1/rooms/lobby/members', token);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ code: 'auth_unavailable', temporary: true });
    auth.jwksDown = false;
    await eventually(async () => (await get(app, '/v1/rooms/lobby/members', token)).status === 200, 10_000, 'the token to verify once auth answers');
    // A token signed by a key auth never published is still a 401.
    const forged = await auth.token({ sub: 'ann', ns: 'acme', grants: { lobby: ['presence'] } }, { signer: 'stranger' });
    expect((await get(app, '/v1/rooms/lobby/members', forged)).status).toBe(401);
  });
});
