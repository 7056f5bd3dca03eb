import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@parley/observability';
import { CLOSE_CODES, MAX_JSON_DEPTH, MAX_TOKEN_BYTES } from '@parley/protocol';
import { connectClient, httpFrom, type TestClient } from '@parley/testkit';
import { startEmbedded, type Embedded } from '../src/embedded.ts';

/** Regressions of issue #18 on the single-process port (`npm start`). */
let parley: Embedded;
let base: string;
const dataDir = mkdtempSync(join(tmpdir(), 'parley-hostile-'));

beforeAll(async () => {
  parley = await startEmbedded({ host: '127.0.0.1', port: 0, dataDir, logger: createLogger('parley', { level: 'silent' }), drainMs: 0 });
  base = `http://127.0.0.1:${parley.gateway.port}`;
});
afterAll(async () => {
  await parley.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const randomKey = () => `pk_demo_${randomBytes(24).toString('base64url')}`;

describe('single process: hostile clients', () => {
  it("single process - 11 random API keys from one client at the presence API do not make another client's valid key fail", async () => {
    const count = (from: string, key: string) => httpFrom(from, `${base}/v1/rooms/lobby/count`, { headers: { authorization: `Bearer ${key}` } });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await count('127.0.0.2', randomKey())).status);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses[10]).toBe(429);
    expect((await count('127.0.0.3', parley.demoApiKey!)).status).toBe(200);
    const mint = await httpFrom('127.0.0.3', `${base}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${parley.demoApiKey!}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice', grants: { lobby: ['subscribe'] } }),
    });
    expect(mint.status).toBe(200);
    expect((await count('127.0.0.2', parley.demoApiKey!)).status).toBe(429);
  });

  it('single process - anonymous GET /metrics names no tenant', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('parley_auth_tokens_minted_total');
    expect(text).not.toContain('tenant=');
    expect(text).not.toContain('"demo"');
  });

  it('single process - TRACE (and the other methods no route serves) gets 405, not 500', async () => {
    for (const method of ['TRACE', 'TRACK']) {
      const res = await httpFrom('127.0.0.1', `${base}/v1/tokens`, { method });
      expect(res.status).toBe(405);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'method_not_allowed', temporary: false });
    }
  });
});

const nested = (depth: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = i % 2 ? { a: value } : [value];
  return value;
};

describe('single process: input limits at the door', () => {
  const clients: TestClient[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });
  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${parley.demoApiKey!}`, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  /** JSON text nested `depth` levels deep (built as text: encoding it from a value would overflow the stack). */
  const deepText = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const mint = async (body: Record<string, unknown>) => {
    const res = await post('/v1/tokens', { grants: { '*': ['subscribe', 'publish'] }, ...body });
    return { status: res.status, body: (await res.json()) as { token?: string; code?: string; message?: string } };
  };
  const connect = async (token: string) => {
    const client = await connectClient(`ws://127.0.0.1:${parley.gateway.port}/v1/ws`, { token });
    clients.push(client);
    return client;
  };

  it(`single process - JSON nested deeper than ${MAX_JSON_DEPTH} levels: 400 bad_frame over HTTP, bad_frame on the socket; the limit itself passes`, async () => {
    // 5,000 levels is about 10 KB: it used to give 500 (HTTP) and `internal` (WebSocket).
    const deep = deepText(5_000);
    const publish = await post('/v1/rooms/lobby/publish', `{"data":${deep}}`);
    expect(publish.status).toBe(400);
    expect(await publish.json()).toMatchObject({ code: 'bad_frame' });
    expect((await post('/v1/rooms/lobby/publish', { data: nested(MAX_JSON_DEPTH) })).status).toBe(202);
    expect((await post('/v1/rooms/lobby/publish', { data: nested(MAX_JSON_DEPTH + 1) })).status).toBe(400);
    const infoRes = await post('/v1/tokens', `{"user":"alice","grants":{"*":["subscribe"]},"info":{"deep":${deep}}}`);
    expect(infoRes.status).toBe(400);
    expect(((await infoRes.json()) as { code: string }).code).toBe('bad_frame');

    const client = await connect((await mint({ user: 'alice' })).body.token!);
    await client.waitFor('welcome');
    expect((await client.request({ type: 'join', room: 'lobby' })).type).toBe('joined');
    client.sendRaw(`{"type":"publish","room":"lobby","id":"deep","data":${deep}}`);
    expect(await client.waitFor((f) => f.id === 'deep')).toMatchObject({ type: 'error', code: 'bad_frame' });
    const ack = await client.request({ type: 'publish', room: 'lobby', data: nested(MAX_JSON_DEPTH) });
    expect(ack.type).toBe('ack');
  });

  it('single process - /v1/tokens refuses a token gateways would refuse (413 token_too_large); one at the limit connects', async () => {
    const grants = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`room-${String(i).padStart(2, '0')}-${'x'.repeat(40)}-*`, ['subscribe', 'publish', 'presence']]));
    const info = { name: 'y'.repeat(900) };
    const tooLarge = await mint({ user: 'alice', grants, info });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.code).toBe('token_too_large');
    // Close to the limit: the largest token we can mint under it still gets `welcome`.
    let largest: string | undefined;
    for (let n = 64; n > 0 && !largest; n -= 2) {
      const r = await mint({ user: 'alice', grants: Object.fromEntries(Object.entries(grants).slice(0, n)), info });
      if (r.status === 200) largest = r.body.token;
    }
    expect(largest!.length).toBeGreaterThan(MAX_TOKEN_BYTES - 300);
    expect(largest!.length).toBeLessThanOrEqual(MAX_TOKEN_BYTES);
    const client = await connect(largest!);
    expect((await client.waitFor('welcome')).type).toBe('welcome');
  });

  it('single process - a user id that is a lone UTF-16 surrogate gets 400 invalid_user', async () => {
    const r = await mint({ user: '\ud800' });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('invalid_user');
    const path = await post(`/v1/users/${encodeURIComponent('ok')}%ED%A0%80/revoke`, {});
    expect(path.status).toBeLessThan(500);
  });

  it("single process - an invalid frame's over-long id is not echoed back", async () => {
    const client = await connect((await mint({ user: 'alice' })).body.token!);
    await client.waitFor('welcome');
    client.send({ type: 'join', room: 'no.dots', id: 'i'.repeat(10_000) });
    const error = await client.waitFor('error');
    expect(error.code).toBe('bad_frame');
    expect(error.id).toBeUndefined();
    expect(JSON.stringify(error).length).toBeLessThan(500);
    // An id within the limit is still echoed.
    expect((await client.request({ type: 'join', room: 'no.dots' })).code).toBe('invalid_room');
  });

  it('single process - an expired token is refused with 4001 before any welcome', async () => {
    const { body } = await mint({ user: 'alice', ttlSeconds: 1 });
    const { exp } = JSON.parse(Buffer.from(body.token!.split('.')[1]!, 'base64url').toString()) as { exp: number };
    while (Date.now() / 1000 < exp + 0.1) await new Promise((r) => setTimeout(r, 50));
    const client = await connect(body.token!);
    const { code } = await client.closed;
    expect(code).toBe(CLOSE_CODES.token_expired);
    expect(client.all('welcome')).toEqual([]);
    expect(client.all('error')[0]?.code).toBe('token_expired');
  });
});
