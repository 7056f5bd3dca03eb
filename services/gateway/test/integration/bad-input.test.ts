import { SignJWT, UnsecuredJWT, exportSPKI, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@parley/protocol';
import { connectClient, type TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';

let keys: TestKeys;
let gw: TestGateway;
let bystander: TestClient;

beforeAll(async () => {
  keys = await createTestKeys();
  gw = await startTestGateway(keys, { maxPayloadBytes: 64 * 1024, floodCloseAfter: 30 });
  bystander = await join(gw.wsUrl, await mintToken(keys, { sub: 'bystander' }), ['lobby']);
});
afterAll(async () => {
  await bystander.close();
  await gw.gateway.close();
});

/** After each attack the gateway still serves others: the bystander publishes and gets its message. */
async function stillServing() {
  const ack = await bystander.request({ type: 'publish', room: 'lobby', data: 'still here' });
  expect(ack.type).toBe('ack');
  await bystander.waitFor((f) => f.type === 'message' && f.data === 'still here');
}

async function client(user = 'mallory') {
  return join(gw.wsUrl, await mintToken(keys, { sub: user }));
}

async function expectError(c: TestClient, send: () => void, code: string) {
  send();
  const error = await c.waitFor('error');
  expect(error.code).toBe(code);
  expect(typeof error.message).toBe('string');
}

describe('bad input', () => {
  it('bad input - malformed JSON gets bad_json', async () => {
    const c = await client();
    await expectError(c, () => c.sendRaw('{"type": "publish", '), 'bad_json');
    await c.close();
    await stillServing();
  });

  it('bad input - binary garbage gets binary_unsupported', async () => {
    const c = await client();
    await expectError(c, () => c.sendRaw(Buffer.from([0xff, 0x00, 0x13, 0x37]), true), 'binary_unsupported');
    await c.close();
    await stillServing();
  });

  it('bad input - invalid UTF-8 in a text frame drops that connection (uWebSockets.js validates it: 1006)', async () => {
    const c = await client();
    c.sendRaw(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), false);
    expect((await c.closed).code).toBe(1006);
    await c.close();
    await stillServing();
  });

  it('bad input - a frame over the tenant limit gets frame_too_large; over the hard limit the socket closes', async () => {
    const c = await join(gw.wsUrl, await mintToken(keys, { sub: 'big', lim: { maxFrameBytes: 1024 } }), ['lobby']);
    await expectError(c, () => c.send({ type: 'publish', room: 'lobby', data: 'x'.repeat(2000) }), 'frame_too_large');
    c.send({ type: 'publish', room: 'lobby', data: 'x'.repeat(70 * 1024) });
    const { code } = await c.closed;
    expect(code).toBe(1006);
    await stillServing();
  });

  it('bad input - unknown type and missing fields get unknown_type and bad_frame, echoing the id', async () => {
    const c = await client();
    const unknown = await c.request({ type: 'teleport', room: 'lobby' });
    expect(unknown).toMatchObject({ type: 'error', code: 'unknown_type' });
    const missing = await c.request({ type: 'publish', room: 'lobby' });
    expect(missing).toMatchObject({ type: 'error', code: 'bad_frame' });
    const noType = await c.request({ room: 'lobby' });
    expect(noType).toMatchObject({ type: 'error', code: 'unknown_type' });
    await c.close();
    await stillServing();
  });

  it('bad input - room names with dots, wildcards, spaces or 500 characters get invalid_room', async () => {
    const c = await client();
    for (const room of ['a.b', 'a*', '>', 'lobby.>', 'with space', 'tab\there', 'x'.repeat(500), '', 'new\nline']) {
      const reply = await c.request({ type: 'join', room });
      expect(reply, room).toMatchObject({ type: 'error', code: 'invalid_room' });
    }
    await c.close();
    await stillServing();
  });

  it('bad input - a flood beyond the rate limit gets rate_limited, then the connection is closed', async () => {
    const c = await join(gw.wsUrl, await mintToken(keys, { sub: 'flooder', lim: { messagesPerSecond: 5, burst: 5 } }), ['lobby']);
    for (let i = 0; i < 200; i++) c.send({ type: 'publish', room: 'lobby', data: i });
    const limited = await c.waitFor((f) => f.type === 'error' && f.code === 'rate_limited');
    expect(limited.temporary).toBe(true);
    const { code } = await c.closed;
    expect(code).toBe(CLOSE_CODES.rate_limited);
    expect(c.all('ack').length).toBeLessThanOrEqual(6);
    await stillServing();
  });

  it('bad input - a direct message to an invalid user id gets invalid_user', async () => {
    const c = await client();
    const reply = await c.request({ type: 'direct', to: '$server', data: 'x' });
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_user' });
    await c.close();
  });
});

describe('tokens', () => {
  async function refused(options: Parameters<typeof connectClient>[1], expectedCode: string, expectedClose: number) {
    const c = await connectClient(gw.wsUrl, options);
    const error = await c.waitFor('error');
    expect(error.code).toBe(expectedCode);
    const closed = await c.closed;
    expect(closed.code).toBe(expectedClose);
    await stillServing();
  }

  it('tokens - no token is refused with token_invalid and 4100', async () => {
    await refused({}, 'token_invalid', CLOSE_CODES.unauthorized);
  });

  it('tokens - an expired token is refused with token_expired and 4001', async () => {
    const token = await mintToken(keys, { iat: Math.floor(Date.now() / 1000) - 3600, ttlSeconds: 60 });
    await refused({ token }, 'token_expired', CLOSE_CODES.token_expired);
  });

  it('tokens - a token signed by another key is refused', async () => {
    const other = await createTestKeys(keys.kid);
    await refused({ token: await mintToken(other) }, 'token_invalid', CLOSE_CODES.unauthorized);
  });

  it('tokens - alg none is refused', async () => {
    const token = new UnsecuredJWT({ ns: 'acme', grants: { '*': ['subscribe'] } })
      .setSubject('alice').setIssuer('parley-auth').setAudience('parley-gateway').setJti('x').setIssuedAt().setExpirationTime('1h').encode();
    await refused({ token }, 'token_invalid', CLOSE_CODES.unauthorized);
  });

  it('tokens - HS256 signed with the public key as the secret is refused', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const token = await new SignJWT({ ns: 'acme', grants: { '*': ['subscribe'] } })
      .setProtectedHeader({ alg: 'HS256', kid: keys.kid })
      .setSubject('alice').setIssuer('parley-auth').setAudience('parley-gateway').setJti('x').setIssuedAt().setExpirationTime('1h')
      .sign(new TextEncoder().encode(pem));
    await refused({ token }, 'token_invalid', CLOSE_CODES.unauthorized);
  });

  it('tokens - a wrong issuer or audience is refused', async () => {
    await refused({ token: await mintToken(keys, { issuer: 'someone-else' }) }, 'token_invalid', CLOSE_CODES.unauthorized);
    await refused({ token: await mintToken(keys, { audience: 'other-service' }) }, 'token_invalid', CLOSE_CODES.unauthorized);
  });

  it('tokens - a disallowed Origin is refused with origin_not_allowed and 4101', async () => {
    const token = await mintToken(keys, { origins: ['https://good.example'] });
    await refused({ token, origin: 'https://evil.example' }, 'origin_not_allowed', CLOSE_CODES.forbidden);
    const ok = await join(gw.wsUrl, token, [], { origin: 'https://good.example' });
    await ok.close();
  });

  it('tokens - the tenant connection limit refuses the connection beyond it', async () => {
    const lim = { maxConnections: 2 };
    const a = await join(gw.wsUrl, await mintToken(keys, { ns: 'small', lim }));
    const b = await join(gw.wsUrl, await mintToken(keys, { ns: 'small', lim }));
    await refused({ token: await mintToken(keys, { ns: 'small', lim }) }, 'too_many_connections', CLOSE_CODES.too_many_connections);
    await a.close();
    await b.close();
  });

  it('tokens - a token of tenant A never reaches tenant B: grants apply within its own namespace only', async () => {
    const b = await join(gw.wsUrl, await mintToken(keys, { ns: 'tenant-b', sub: 'bob' }), ['vault']);
    const a = await join(gw.wsUrl, await mintToken(keys, { ns: 'tenant-a', sub: 'bob', grants: { vault: ['subscribe', 'publish', 'presence'] } }), ['vault']);
    await a.request({ type: 'publish', room: 'vault', data: 'from a' });
    const presence = await a.request({ type: 'presence', room: 'vault' });
    expect(presence.users).toBe(1);
    await b.request({ type: 'publish', room: 'vault', data: 'from b' });
    await b.waitFor((f) => f.type === 'message' && f.data === 'from b');
    await a.waitFor((f) => f.type === 'message' && f.data === 'from a');
    expect(b.all('message').map((m) => m.data)).toEqual(['from b']);
    expect(a.all('message').map((m) => m.data)).toEqual(['from a']);
    await a.close();
    await b.close();
  });

  it('tokens - a room outside the grants is forbidden', async () => {
    const c = await join(gw.wsUrl, await mintToken(keys, { grants: { 'public-*': ['subscribe'] } }));
    expect(await c.request({ type: 'join', room: 'private' })).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await c.request({ type: 'join', room: 'public-1' })).toMatchObject({ type: 'joined' });
    expect(await c.request({ type: 'publish', room: 'public-1', data: 1 })).toMatchObject({ type: 'error', code: 'forbidden' });
    await c.close();
  });
});
