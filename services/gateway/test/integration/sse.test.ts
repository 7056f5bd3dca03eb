import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus, type Bus } from '@parley/bus';
import { createNatsBus } from '@parley/bus/nats';
import { createMemoryHistoryStore } from '@parley/history';
import { createPresenceRedisClient } from '@parley/presence-store/redis';
import { SseTestClient, startNats, startRedis, startWebSocketRefusingProxy, type NatsProcess, type RefusingProxy, type ServerProcess } from '@parley/testkit';
import { createRedisTicketStore } from '../../src/adapters/redis-ticket-store.ts';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';

/** Limits that let a test publish hundreds of messages a second. */
const FAST = { messagesPerSecond: 1000, burst: 1000 };

const base = (gw: TestGateway) => `http://127.0.0.1:${gw.gateway.port}`;

async function ticketFor(gw: TestGateway, token: string): Promise<string> {
  const response = await fetch(`${base(gw)}/v1/sse/tickets`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(201);
  return ((await response.json()) as { ticket: string }).ticket;
}

/** Opens a stream and reads until its first event, then drops it. */
async function openStream(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown; firstChunk?: string }> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  if (response.status !== 200) return { status: response.status, body: await response.json() };
  const reader = response.body!.getReader();
  const { value } = await reader.read();
  controller.abort();
  return { status: 200, body: undefined, firstChunk: new TextDecoder().decode(value) };
}

describe('SSE transport', () => {
  let keys: TestKeys;
  let gw: TestGateway;
  const bus = createMemoryBus();
  const history = createMemoryHistoryStore({ bus });
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    // Short enough to wait for, long enough for a loaded machine: 3 s.
    gw = await startTestGateway(keys, { bus, history, sseTicketTtlMs: 3000, sseResumeGraceMs: 3000 });
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await gw.gateway.close();
    await history.close();
  });

  it('sse - a ticket opens one stream: used again it is refused, and unused it expires', async () => {
    const token = await mintToken(keys, { sub: 'ticket-user' });
    const ticket = await ticketFor(gw, token);
    const first = await openStream(`${base(gw)}/v1/sse?ticket=${ticket}`);
    expect(first.status).toBe(200);
    expect(first.firstChunk).toContain('event: connection');
    const again = await openStream(`${base(gw)}/v1/sse?ticket=${ticket}`);
    expect(again).toMatchObject({ status: 401, body: { code: 'ticket_invalid' } });

    const unused = await ticketFor(gw, token);
    await new Promise((r) => setTimeout(r, 3500));
    expect(await openStream(`${base(gw)}/v1/sse?ticket=${unused}`)).toMatchObject({ status: 401, body: { code: 'ticket_invalid' } });
  });

  it('sse - tokens are refused in URLs, and a ticket needs a valid token in the Authorization header', async () => {
    const token = await mintToken(keys, { sub: 'url-user' });
    const inUrl = await openStream(`${base(gw)}/v1/sse?token=${token}`);
    expect(inUrl).toMatchObject({ status: 401, body: { code: 'token_invalid' } });
    expect((inUrl.body as { message: string }).message).toMatch(/not accepted in URLs/);
    const noHeader = await fetch(`${base(gw)}/v1/sse/tickets?token=${token}`, { method: 'POST' });
    expect(noHeader.status).toBe(401);
    const forged = await fetch(`${base(gw)}/v1/sse/tickets`, { method: 'POST', headers: { authorization: 'Bearer e30.e30.sig' } });
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ code: 'token_invalid' });
    expect((await fetch(`${base(gw)}/v1/sse`)).status).toBe(401);
    const preflight = await fetch(`${base(gw)}/v1/sse/tickets`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
  });

  it('sse - a lost stream resumed with Last-Event-ID loses nothing (history tenant, publishing throughout)', async () => {
    const writer = await join(gw.wsUrl, await mintToken(keys, { sub: 'writer', hist: true, lim: FAST }), ['resume-room']);
    closers.push(() => writer.close());
    const reader = new SseTestClient(base(gw), { token: await mintToken(keys, { sub: 'sse-reader', hist: true }) });
    closers.push(() => reader.close());
    await reader.waitFor('welcome');
    expect((await reader.request({ type: 'join', room: 'resume-room' })).type).toBe('joined');

    let publishing = true;
    const published: number[] = [];
    const writing = (async () => {
      for (let i = 0; publishing; i++) {
        const ack = await writer.request({ type: 'publish', room: 'resume-room', data: { i } });
        published.push(ack.seq as number);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await reader.waitFor((f) => f.type === 'message' && f.seq === 5, 10_000);
    reader.dropStream();
    await new Promise((r) => setTimeout(r, 400));
    expect(await reader.resume()).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    publishing = false;
    await writing;
    const last = published.at(-1)!;
    // The ticket alone (it is in the URL) cannot take the stream over: the id's key is needed.
    const [count] = reader.lastEventId.split('.');
    expect((await openStream(`${base(gw)}/v1/sse?ticket=${reader.ticket}`, { 'last-event-id': count! })).status).toBe(401);
    expect((await openStream(`${base(gw)}/v1/sse?ticket=${reader.ticket}`, { 'last-event-id': `${count}.forged` })).status).toBe(401);
    await reader.waitFor((f) => f.type === 'message' && f.seq === last, 10_000);
    const seqs = reader.all('message').map((m) => m.seq as number);
    expect(seqs).toEqual(published);
    expect(published.length).toBeGreaterThan(20);
  });

  it('sse - a stream not resumed within the grace period closes its connection (the others see it leave)', async () => {
    const watcher = await join(gw.wsUrl, await mintToken(keys, { sub: 'watcher' }), ['grace-room']);
    closers.push(() => watcher.close());
    const client = new SseTestClient(base(gw), { token: await mintToken(keys, { sub: 'vanishing' }) });
    await client.waitFor('welcome');
    await client.request({ type: 'join', room: 'grace-room' });
    await watcher.waitFor((f) => f.type === 'presence.join' && f.user === 'vanishing');
    client.dropStream();
    await watcher.waitFor((f) => f.type === 'presence.leave' && f.user === 'vanishing', 10_000);
    expect(await client.resume()).toBe(401);
  });

  it('sse - a client that closes (DELETE) leaves at once; its frames after that get 404', async () => {
    const watcher = await join(gw.wsUrl, await mintToken(keys, { sub: 'watcher2' }), ['delete-room']);
    closers.push(() => watcher.close());
    const client = new SseTestClient(base(gw), { token: await mintToken(keys, { sub: 'leaver' }) });
    await client.waitFor('welcome');
    await client.request({ type: 'join', room: 'delete-room' });
    const connection = client.connection!;
    await client.close();
    await watcher.waitFor((f) => f.type === 'presence.leave' && f.user === 'leaver', 5000);
    const late = await fetch(`${base(gw)}/v1/sse/connections/${connection}`, { method: 'POST', body: '{"type":"ping"}' });
    expect(late.status).toBe(404);
  });

  it('sse - frames need the connection key: its id (in URLs, which proxies log) is not enough', async () => {
    const client = new SseTestClient(base(gw), { token: await mintToken(keys, { sub: 'keyholder' }) });
    closers.push(() => client.close());
    await client.waitFor('welcome');
    const url = `${base(gw)}/v1/sse/connections/${client.connection}`;
    for (const headers of [{}, { authorization: 'Bearer not-the-key' }, { authorization: `Bearer ${client.key}x` }]) {
      const response = await fetch(url, { method: 'POST', headers, body: '{"type":"ping","id":"forged"}' });
      expect(response.status).toBe(404);
      expect((await fetch(url, { method: 'DELETE', headers })).status).toBe(404);
    }
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(client.frames.some((f) => f.id === 'forged')).toBe(false);
    expect(client.isClosed).toBe(false);
  });

  it('sse - several frames in one POST are handled in order; an oversized body is refused', async () => {
    const client = new SseTestClient(base(gw), { token: await mintToken(keys, { sub: 'batcher' }) });
    closers.push(() => client.close());
    await client.waitFor('welcome');
    client.sendRaw(['{"type":"join","room":"batch","id":"a"}', '{"type":"publish","room":"batch","data":1,"id":"b"}', '{"type":"ping","id":"c"}'].join('\n'));
    expect(await client.waitFor((f) => f.id === 'a')).toMatchObject({ type: 'joined' });
    expect(await client.waitFor((f) => f.id === 'b')).toMatchObject({ type: 'ack' });
    expect(await client.waitFor((f) => f.id === 'c')).toMatchObject({ type: 'pong' });
    const huge = await fetch(`${base(gw)}/v1/sse/connections/${client.connection}`, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) });
    expect(huge.status).toBe(413);
  });

  it('sse - an idle stream stays open (heartbeats), past the HTTP idle timeout', async () => {
    const client = new SseTestClient(base(gw), { token: await mintToken(keys, { sub: 'idler' }) });
    closers.push(() => client.close());
    await client.waitFor('welcome');
    await new Promise((r) => setTimeout(r, 12_000));
    expect(client.isClosed).toBe(false);
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  }, 30_000);

  it('sse - metrics count tickets, resumes and open SSE connections', async () => {
    const text = await (await fetch(`${base(gw)}/metrics`)).text();
    expect(text).toMatch(/parley_gateway_sse_tickets_total\{[^}]*result="issued"[^}]*\} [1-9]/);
    expect(text).toMatch(/parley_gateway_sse_tickets_total\{[^}]*result="ticket_invalid"[^}]*\} [1-9]/);
    expect(text).toMatch(/parley_gateway_sse_tickets_total\{[^}]*result="token_in_url"[^}]*\} [1-9]/);
    expect(text).toMatch(/parley_gateway_sse_resumes_total\{[^}]*result="resumed"[^}]*\} [1-9]/);
    expect(text).toMatch(/parley_gateway_sse_connections(\{[^}]*\})? \d/);
  });
});

describe('SSE across gateways (real NATS and Redis)', () => {
  let keys: TestKeys;
  let nats: NatsProcess;
  let redis: ServerProcess;
  let busA: Bus;
  let busB: Bus;
  let gwA: TestGateway;
  let gwB: TestGateway;
  let proxy: RefusingProxy;
  const redisClients: Array<{ quit(): Promise<unknown> }> = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    [nats, redis] = await Promise.all([startNats(), startRedis()]);
    busA = await createNatsBus({ servers: nats.url, name: 'sse-a' });
    busB = await createNatsBus({ servers: nats.url, name: 'sse-b' });
    const ticketStore = () => {
      const client = createPresenceRedisClient(redis.url);
      redisClients.push(client);
      return createRedisTicketStore(client);
    };
    gwA = await startTestGateway(keys, { bus: busA, tickets: ticketStore() });
    gwB = await startTestGateway(keys, { bus: busB, tickets: ticketStore() });
    proxy = await startWebSocketRefusingProxy(gwA.gateway.port);
  });
  afterAll(async () => {
    await proxy?.close();
    await gwA?.gateway.close();
    await gwB?.gateway.close();
    await Promise.all(redisClients.map((c) => c.quit().catch(() => undefined)));
    await busA?.close();
    await busB?.close();
    await Promise.all([nats?.stop(), redis?.stop()]);
  });

  it('sse - a ticket from one gateway opens the stream on another, once; frames and the DELETE sent to the first reach the second, which answers for them', async () => {
    const token = await mintToken(keys, { sub: 'roamer' });
    const ticket = await ticketFor(gwA, token);
    const onB = new SseTestClient(base(gwB), { token });
    await onB.waitFor('welcome');
    // The ticket above, redeemed on B: once only, cluster-wide.
    expect((await openStream(`${base(gwB)}/v1/sse?ticket=${ticket}`)).status).toBe(200);
    expect((await openStream(`${base(gwA)}/v1/sse?ticket=${ticket}`)).status).toBe(401);

    // onB's connection lives on B; its frames are POSTed to A here, as a load balancer might.
    const post = async (frame: object) => {
      const response = await fetch(`${base(gwA)}/v1/sse/connections/${onB.connection}`, { method: 'POST', headers: { authorization: `Bearer ${onB.key}` }, body: JSON.stringify(frame) });
      expect(response.status).toBe(202);
    };
    await post({ type: 'join', room: 'roaming', id: 'j' });
    expect(await onB.waitFor((f) => f.id === 'j')).toMatchObject({ type: 'joined' });
    await post({ type: 'publish', room: 'roaming', data: 'via A', id: 'p' });
    expect(await onB.waitFor((f) => f.id === 'p')).toMatchObject({ type: 'ack' });
    expect(await onB.waitFor('message')).toMatchObject({ data: 'via A' });
    // A wrong key is refused by the holder, through A as well.
    const forged = await fetch(`${base(gwA)}/v1/sse/connections/${onB.connection}`, { method: 'POST', headers: { authorization: 'Bearer forged' }, body: '{"type":"ping"}' });
    expect(forged.status).toBe(404);
    // A DELETE that lands on A closes the connection on B at once.
    const closed = await fetch(`${base(gwA)}/v1/sse/connections/${onB.connection}`, { method: 'DELETE', headers: { authorization: `Bearer ${onB.key}` } });
    expect(closed.status).toBe(202);
    await onB.closed;
    const after = await fetch(`${base(gwA)}/v1/sse/connections/${onB.connection}`, { method: 'POST', headers: { authorization: `Bearer ${onB.key}` }, body: '{"type":"ping"}' });
    expect(after.status).toBe(404);
  });

  it('sse - through a proxy that refuses WebSockets, every frame arrives, in order', async () => {
    const viaProxy = proxy.url;
    const refused = await fetch(`${viaProxy}/v1/ws`, { headers: { connection: 'upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Error);
    const reader = new SseTestClient(viaProxy, { token: await mintToken(keys, { sub: 'behind-proxy' }) });
    await reader.waitFor('welcome');
    expect((await reader.request({ type: 'join', room: 'proxied' })).type).toBe('joined');
    const writer = await join(gwB.wsUrl, await mintToken(keys, { sub: 'proxy-writer', lim: FAST }), ['proxied']);
    for (let i = 0; i < 200; i++) writer.send({ type: 'publish', room: 'proxied', data: i });
    await reader.waitFor((f) => f.type === 'message' && f.data === 199, 15_000);
    expect(reader.all('message').map((m) => m.data)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    await writer.close();
    await reader.close();
  });
});
