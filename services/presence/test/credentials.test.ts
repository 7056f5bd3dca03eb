import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@parley/testkit';
import { createAuthServiceKeyVerifier } from '../src/index.ts';
import { startFakeAuth, type FakeAuth } from './support.ts';

const KEY = 'pk_acme_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const CLIENT = '203.0.113.9';

describe('presence credentials', () => {
  let auth: FakeAuth;
  beforeAll(async () => {
    auth = await startFakeAuth({ [KEY]: 'acme' });
  });
  afterAll(async () => {
    await auth?.close();
  });

  it('presence credentials - API key answers are cached 30 s when valid and 5 s when not', async () => {
    let clock = 0;
    const verify = createAuthServiceKeyVerifier(auth.url, { now: () => clock });
    const start = auth.whoamiCalls;
    expect(await verify(KEY, CLIENT)).toEqual({ ns: 'acme' });
    expect(await verify('pk_acme_nope', CLIENT)).toBeNull();
    clock += 4_000;
    expect(await verify(KEY, CLIENT)).toEqual({ ns: 'acme' });
    expect(await verify('pk_acme_nope', CLIENT)).toBeNull();
    expect(auth.whoamiCalls - start).toBe(2);
    clock += 2_000;
    // The negative answer expired: a key created meanwhile works now.
    auth.keys.set('pk_acme_nope', 'acme');
    expect(await verify('pk_acme_nope', CLIENT)).toEqual({ ns: 'acme' });
    // The positive answer outlives a revocation by at most its ttl.
    auth.keys.delete(KEY);
    expect(await verify(KEY, CLIENT)).toEqual({ ns: 'acme' });
    clock += 25_000;
    expect(await verify(KEY, CLIENT)).toBeNull();
    expect(auth.whoamiCalls - start).toBe(4);
  });

  it('presence credentials - an unreachable auth service is unavailable, not unauthorized', async () => {
    // A free port nobody listens on: connection refused.
    const verify = createAuthServiceKeyVerifier(`http://127.0.0.1:${await freePort()}`, { timeoutMs: 500 });
    await expect(verify(KEY, CLIENT)).rejects.toMatchObject({ code: 'unavailable' });
  });
});
