import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ParleyClient, type RoomMessage } from '@parley/client';
import { createMemoryBus } from '@parley/bus';
import { createMemoryHistoryStore } from '@parley/history';
import { startWebSocketRefusingProxy, type RefusingProxy } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway, waitUntil, type TestGateway, type TestKeys } from '../support.ts';

const FAST = { messagesPerSecond: 1000, burst: 1000 };

/**
 * @parley/client behind a proxy that refuses WebSockets, as some corporate proxies do: it falls
 * back to SSE by itself and keeps its promises there (rooms, presence, publish acks, token
 * refresh, and nothing lost when the stream breaks).
 */
describe('@parley/client over SSE', () => {
  let keys: TestKeys;
  let gw: TestGateway;
  let proxy: RefusingProxy;
  let proxyUrl: string;
  const bus = createMemoryBus();
  const history = createMemoryHistoryStore({ bus });
  const clients: ParleyClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    gw = await startTestGateway(keys, { bus, history });
    proxy = await startWebSocketRefusingProxy(gw.gateway.port);
    proxyUrl = `ws://127.0.0.1:${proxy.port}/v1/ws`;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await proxy.close();
    await gw.gateway.close();
    await history.close();
  });

  const client = (token: () => Promise<string>, url = proxyUrl, extra: Partial<Parameters<typeof createClient>[0]> = {}) => {
    const c = createClient({ url, getToken: token, reconnect: { baseMs: 50, capMs: 500 }, ...extra });
    clients.push(c);
    return c;
  };

  it('client - with WebSockets refused it connects over SSE by itself; directly it uses a WebSocket', async () => {
    const direct = client(() => mintToken(keys, { sub: 'direct' }), gw.wsUrl);
    const proxied = client(() => mintToken(keys, { sub: 'proxied' }));
    await waitUntil(() => direct.connected && proxied.connected, 'both connected');
    expect(direct.transport).toBe('websocket');
    expect(proxied.transport).toBe('sse');
  });

  it('client - over SSE: join, presence, messages both ways with acks, typing events, history', async () => {
    const sse = client(() => mintToken(keys, { sub: 'sse-user', hist: true, lim: FAST }));
    const room = sse.room('sse-chat');
    const received: RoomMessage[] = [];
    room.on('message', (m) => received.push(m));
    await room.join();
    const other = await join(gw.wsUrl, await mintToken(keys, { sub: 'ws-user', hist: true, lim: FAST }), ['sse-chat']);
    await waitUntil(() => room.members.has('ws-user'), 'presence of ws-user');
    await other.request({ type: 'publish', room: 'sse-chat', data: 'from ws' });
    await waitUntil(() => received.some((m) => m.data === 'from ws'), 'the WebSocket user’s message');
    const ack = await room.publish('from sse');
    expect(ack.seq).toBeGreaterThan(0);
    expect(await other.waitFor((f) => f.type === 'message' && f.data === 'from sse')).toMatchObject({ from: { user: 'sse-user' } });
    await room.publish({ typing: true }, { ephemeral: true });
    expect(await other.waitFor((f) => f.type === 'message' && f.ephemeral === true)).toMatchObject({ data: { typing: true } });
    const page = await room.history({ limit: 10 });
    expect(page.messages.map((m) => m.data)).toEqual(['from ws', 'from sse']);
    await other.close();
  });

  it('client - over SSE a short-lived token is refreshed on the live connection', async () => {
    const sse = client(() => mintToken(keys, { sub: 'refreshing', ttlSeconds: 4 }), proxyUrl, { refreshLeadMs: 2000 });
    await waitUntil(() => sse.connected, 'connected');
    const conn = sse.conn;
    await new Promise((r) => setTimeout(r, 6000));
    expect(sse.connected).toBe(true);
    expect(sse.conn).toBe(conn);
  }, 20_000);

  it('client - over SSE a broken stream loses nothing: every acknowledged message arrives once, in order', async () => {
    // The earlier tests' clients go first: the proxy drops every stream it carries, and only this reader's resumes are counted.
    for (const c of clients.splice(0)) c.close();
    const reader = client(() => mintToken(keys, { sub: 'sse-reader', hist: true, lim: FAST }));
    const room = reader.room('sse-breaks');
    const received: number[] = [];
    room.on('message', (m) => received.push(m.data as number));
    await room.join();
    const writer = await join(gw.wsUrl, await mintToken(keys, { sub: 'sse-writer', hist: true, lim: FAST }), ['sse-breaks']);
    const resumed = async () => Number(/parley_gateway_sse_resumes_total\{[^}]*result="resumed"[^}]*\} (\d+)/.exec(await (await fetch(`${gw.gateway.url}/metrics`)).text())?.[1] ?? 0);
    const before = await resumed();
    const acked: number[] = [];
    for (let i = 0; i < 300; i++) {
      await writer.request({ type: 'publish', room: 'sse-breaks', data: i });
      acked.push(i);
      // The proxy drops every connection it carries, twice, mid-traffic; each time the stream is
      // resumed with Last-Event-ID (not reconnected) while the writer goes on.
      if (i === 100 || i === 200) {
        proxy.dropAll();
        const drops = i === 100 ? 1 : 2;
        const deadline = Date.now() + 10_000;
        while ((await resumed()) < before + drops && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(await resumed()).toBe(before + drops);
      }
    }
    await waitUntil(() => received.length >= acked.length, 'every acknowledged message', 20_000);
    expect(received).toEqual(acked);
    expect(reader.connected).toBe(true);
    await writer.close();
  }, 40_000);
});
