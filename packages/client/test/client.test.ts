import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, createClient, ParleyError, type ClientOptions, type StateChange } from '../src/index.ts';
import { FakeSocket, fakeToken } from './fake-socket.ts';

let tokens = 0;
const getToken = vi.fn(async () => fakeToken(Math.floor(Date.now() / 1000) + 3600, ++tokens));

function start(options: Partial<ClientOptions> = {}) {
  const client = createClient({ url: 'ws://gw/v1/ws', getToken, WebSocket: FakeSocket, pingIntervalMs: 0, transports: ['websocket'], ...options });
  const states: StateChange[] = [];
  client.on('state', (s) => states.push(s));
  return { client, states };
}

/** Lets the async `getToken` settle and the socket be created. */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
  getToken.mockClear();
});
afterEach(() => vi.useRealTimers());

describe('backoff', () => {
  it('backoff - full jitter below min(cap, base × 2^attempt)', () => {
    const opts = { baseMs: 100, capMs: 1000 };
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, opts, () => 0.9999))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(backoffDelay(5, opts, () => 0)).toBe(0);
    for (let n = 0; n < 50; n++) expect(backoffDelay(n)).toBeLessThan(30_000);
  });
});

describe('connection state', () => {
  it('state - connecting, connected, reconnecting after 1006 with a backoff delay, connected again', async () => {
    const { client, states } = start({ reconnect: { baseMs: 100, capMs: 1000 } });
    await settle();
    expect(FakeSocket.last.protocols[0]).toBe('parley.v1');
    FakeSocket.last.welcome();
    expect(client.state).toBe('connected');
    FakeSocket.last.serverClose(1006);
    expect(client.state).toBe('reconnecting');
    const delay = states.at(-1)?.delayMs ?? -1;
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThan(100);
    await vi.advanceTimersByTimeAsync(delay);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.last.welcome();
    // `connecting` was emitted by createClient itself, before a listener could be attached.
    expect(states.map((s) => s.state)).toEqual(['connected', 'reconnecting', 'connected']);
    expect(getToken).toHaveBeenCalledTimes(2);
    client.close();
    expect(client.state).toBe('disconnected');
  });

  it('state - retries on 40xx with growing windows and stops on 41xx with a typed error', async () => {
    const { client, states } = start({ reconnect: { baseMs: 1000, capMs: 4000 } });
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(5000);
      FakeSocket.last.serverClose(4000 + (i % 2) * 4, 'going away');
    }
    expect(FakeSocket.all).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(5000);
    FakeSocket.last.serverClose(4102, 'token revoked');
    expect(client.state).toBe('disconnected');
    const last = states.at(-1);
    expect(last?.error).toBeInstanceOf(ParleyError);
    expect(last?.error).toMatchObject({ code: 'token_revoked', temporary: false, closeCode: 4102 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(5);
  });

  it('state - honours the reconnect frame delay of a draining gateway and rotates through the URLs', async () => {
    const { client } = start({ urls: ['ws://a/v1/ws', 'ws://b/v1/ws'] });
    await settle();
    FakeSocket.last.welcome();
    FakeSocket.last.receive({ type: 'reconnect', reason: 'draining', delayMs: 3000 });
    await vi.advanceTimersByTimeAsync(2999);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all[0]?.closedWith).toBeDefined();
    await vi.advanceTimersByTimeAsync(1); // the retry is due at once
    expect(FakeSocket.all.map((s) => s.url)).toEqual(['ws://a/v1/ws', 'ws://b/v1/ws']);
    client.close();
  });

  it('state - a connection without welcome in time is abandoned and retried', async () => {
    const { client } = start({ connectTimeoutMs: 2000, reconnect: { baseMs: 10 } });
    await settle();
    await vi.advanceTimersByTimeAsync(2000);
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(20);
    expect(FakeSocket.all).toHaveLength(2);
    client.close();
  });

  it('state - a silent connection is dropped after an unanswered ping', async () => {
    const { client } = start({ pingIntervalMs: 1000 });
    await settle();
    FakeSocket.last.welcome();
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.last.sentOfType('ping')).toHaveLength(1);
    FakeSocket.last.receive({ type: 'pong' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(client.state).toBe('connected');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(client.state).toBe('reconnecting');
    client.close();
  });
});

describe('transports', () => {
  it('transport - a WebSocket that fails twice before it opens makes the next attempt use SSE at once; when SSE fails too, the WebSocket comes first again', async () => {
    const urls: string[] = [];
    vi.stubGlobal('fetch', vi.fn(async (url: string) => {
      urls.push(url);
      throw new TypeError('fetch failed');
    }));
    try {
      const { client, states } = start({ transports: ['websocket', 'sse'], url: 'wss://gw.example/v1/ws', reconnect: { baseMs: 1000, capMs: 1000 } });
      await settle();
      expect(client.transport).toBe('websocket');
      // Once could be a gateway restarting: the WebSocket is tried again, after the backoff.
      FakeSocket.last.serverClose(1006, 'proxy refused the upgrade');
      await vi.advanceTimersByTimeAsync(1000);
      expect(FakeSocket.all).toHaveLength(2);
      expect(urls).toEqual([]);
      FakeSocket.last.serverClose(1006, 'proxy refused the upgrade');
      await settle();
      // Twice: at once, over SSE; the ticket is asked for at the gateway's SSE address.
      expect(client.transport).toBe('sse');
      expect(urls).toEqual(['https://gw.example/v1/sse/tickets']);
      await settle();
      // SSE failed too: not a proxy but the gateway down. Start over with the WebSocket, after the backoff.
      expect(states.at(-1)).toMatchObject({ state: 'reconnecting' });
      expect(states.at(-1)!.delayMs).toBeGreaterThanOrEqual(0);
      await vi.advanceTimersByTimeAsync(1000);
      expect(FakeSocket.all).toHaveLength(3);
      expect(client.transport).toBe('websocket');
      FakeSocket.last.welcome();
      expect(client.connected).toBe(true);
      client.close();
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('transport - with several URLs, SSE is tried only after the WebSocket failed before opening on each of them (one dead gateway is not a proxy)', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => {
      throw new TypeError('fetch failed');
    }));
    try {
      const { client } = start({ transports: ['websocket', 'sse'], urls: ['ws://a/v1/ws', 'ws://b/v1/ws'], reconnect: { baseMs: 10, capMs: 10 } });
      await settle();
      FakeSocket.last.serverClose(1006, 'connection refused');
      await vi.advanceTimersByTimeAsync(20);
      expect(FakeSocket.all.map((s) => s.url)).toEqual(['ws://a/v1/ws', 'ws://b/v1/ws']);
      expect(client.transport).toBe('websocket');
      FakeSocket.last.serverClose(1006, 'connection refused');
      await settle();
      expect(client.transport).toBe('sse');
      client.close();
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('transport - a WebSocket that opened and then closed is retried as a WebSocket', async () => {
    const { client } = start({ transports: ['websocket', 'sse'], reconnect: { baseMs: 100, capMs: 100 } });
    await settle();
    FakeSocket.last.welcome();
    FakeSocket.last.serverClose(4000, 'shutdown');
    await vi.advanceTimersByTimeAsync(200);
    expect(FakeSocket.all).toHaveLength(2);
    expect(client.transport).toBe('websocket');
    client.close();
  });
});

describe('refusals at the handshake', () => {
  it('state - a draining gateway that refuses the connection (shutting_down, then 4000) is retried without an error event', async () => {
    const { client, states } = start({ reconnect: { baseMs: 100, capMs: 100 } });
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    await settle();
    FakeSocket.last.receive({ type: 'error', code: 'shutting_down', message: 'this gateway is shutting down; reconnect', temporary: true });
    FakeSocket.last.serverClose(4000, 'shutdown');
    expect(states.at(-1)).toMatchObject({ state: 'reconnecting', reason: 'shutdown' });
    await vi.advanceTimersByTimeAsync(200);
    FakeSocket.last.welcome();
    expect(client.state).toBe('connected');
    expect(errors).toEqual([]);
    client.close();
  });
});

describe('room errors', () => {
  it('rooms - a replay that failed after joined (history_unavailable) is retried by the room, without an error event', async () => {
    const { client } = start();
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    await settle();
    FakeSocket.last.welcome();
    const room = client.room('lobby');
    const joined = room.join();
    const join = FakeSocket.last.sent.find((f) => f.type === 'join');
    FakeSocket.last.receive({ type: 'joined', id: join?.id, room: 'lobby', seq: 7 });
    await joined;
    FakeSocket.last.receive({ type: 'error', room: 'lobby', code: 'history_unavailable', message: 'the replay of this room failed after joined', temporary: true });
    await vi.advanceTimersByTimeAsync(1100);
    expect(FakeSocket.last.sent.filter((f) => f.type === 'join').at(-1)).toMatchObject({ room: 'lobby', since: 7 });
    expect(errors).toEqual([]);
    client.close();
  });
});

describe('browser network events', () => {
  it('network - offline drops the socket and waits; online reconnects at once', async () => {
    const network = new EventTarget();
    const navigator = { onLine: true };
    vi.stubGlobal('addEventListener', network.addEventListener.bind(network));
    vi.stubGlobal('removeEventListener', network.removeEventListener.bind(network));
    vi.stubGlobal('navigator', navigator);
    try {
      const { client, states } = start();
      await settle();
      FakeSocket.last.welcome();
      navigator.onLine = false;
      network.dispatchEvent(new Event('offline'));
      expect(client.state).toBe('reconnecting');
      expect(states.at(-1)).toMatchObject({ reason: 'offline' });
      expect(states.at(-1)).not.toHaveProperty('delayMs');
      await vi.advanceTimersByTimeAsync(60_000);
      expect(FakeSocket.all).toHaveLength(1);
      navigator.onLine = true;
      network.dispatchEvent(new Event('online'));
      await settle();
      expect(FakeSocket.all).toHaveLength(2);
      FakeSocket.last.welcome();
      expect(client.state).toBe('connected');
      client.close();
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe('token refresh', () => {
  it('refresh - sends a fresh token before exp on the same socket, again and again', async () => {
    const shortToken = vi.fn(async () => fakeToken(Math.floor(Date.now() / 1000) + 5, ++tokens));
    const { client } = start({ getToken: shortToken });
    await settle();
    const socket = FakeSocket.last;
    socket.welcome(Math.floor(Date.now() / 1000) + 5);
    await vi.advanceTimersByTimeAsync(2600);
    const [first] = socket.sentOfType('refresh');
    expect(first?.token).toEqual(expect.any(String));
    socket.receive({ type: 'ack', id: first?.id });
    await vi.advanceTimersByTimeAsync(3000);
    expect(socket.sentOfType('refresh')).toHaveLength(2);
    expect(FakeSocket.all).toHaveLength(1);
    client.close();
  });

  it('refresh - 4001 gets a new token and reconnects', async () => {
    const { client } = start({ reconnect: { baseMs: 10 } });
    await settle();
    FakeSocket.last.welcome();
    FakeSocket.last.serverClose(4001, 'token expired');
    await vi.advanceTimersByTimeAsync(20);
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(FakeSocket.all[1]?.token).not.toBe(FakeSocket.all[0]?.token);
    client.close();
  });
});

describe('publish queue', () => {
  it('queue - publishes made offline wait (bounded), go out after the rejoin in order, settle by ack', async () => {
    const { client } = start({ maxQueuedPublishes: 2 });
    const room = client.room('lobby');
    room.join().catch(() => {});
    const a = room.publish({ n: 1 });
    const b = room.publish({ n: 2 });
    await expect(room.publish({ n: 3 })).rejects.toMatchObject({ code: 'queue_full', temporary: true });
    await settle();
    const socket = FakeSocket.last;
    socket.welcome();
    expect(socket.sentOfType('publish')).toHaveLength(0); // waits for `joined`
    socket.receive({ type: 'joined', id: socket.sentOfType('join')[0]?.id, room: 'lobby', seq: 7 });
    const sent = socket.sentOfType('publish');
    expect(sent.map((f) => f.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(new Set(sent.map((f) => f.pid)).size).toBe(2);
    socket.receive({ type: 'ack', id: sent[0]?.id, msgId: 'm1', seq: 8 });
    socket.receive({ type: 'error', id: sent[1]?.id, code: 'rate_limited', message: 'slow down', temporary: true });
    await expect(a).resolves.toEqual({ msgId: 'm1', seq: 8 });
    const failure = await b.catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ParleyError);
    expect(failure).toMatchObject({ code: 'rate_limited', temporary: true });
    expect(client.queued).toBe(0);
    client.close();
  });

  it('queue - a publish whose ack was lost is resent with the same pid after the reconnect', async () => {
    const { client } = start({ reconnect: { baseMs: 10 } });
    await settle();
    FakeSocket.last.welcome();
    const p = client.room('lobby').publish('hi');
    const [first] = FakeSocket.last.sentOfType('publish');
    FakeSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(20);
    FakeSocket.last.welcome();
    const [again] = FakeSocket.last.sentOfType('publish');
    expect(again?.pid).toBe(first?.pid);
    FakeSocket.last.receive({ type: 'ack', id: again?.id, msgId: 'm1' });
    await expect(p).resolves.toEqual({ msgId: 'm1' });
    client.close();
  });

  it('queue - ephemeral events are sent with the flag and refused while disconnected', async () => {
    const { client } = start();
    const room = client.room('lobby');
    await expect(room.publish({ typing: true }, { ephemeral: true })).rejects.toMatchObject({ code: 'disconnected' });
    await settle();
    FakeSocket.last.welcome();
    room.publish({ typing: true }, { ephemeral: true }).catch(() => {});
    expect(FakeSocket.last.sentOfType('publish')[0]).toMatchObject({ ephemeral: true, data: { typing: true } });
    client.close();
  });

  it('queue - close rejects what waits', async () => {
    const { client } = start({ autoConnect: false });
    const p = client.direct('ben', 'hi');
    client.close();
    await expect(p).rejects.toMatchObject({ code: 'closed' });
  });
});

describe('rooms', () => {
  const msg = (seq: number) => ({ type: 'message', room: 'lobby', msgId: 'm' + seq, from: { user: 'ben' }, data: seq, ts: 1, seq });

  it('seq - resumes with since = highest seq seen; each message once, in order', async () => {
    const { client } = start({ reconnect: { baseMs: 10 } });
    const room = client.room('lobby');
    const seen: number[] = [];
    room.on('message', (m) => seen.push(m.seq as number));
    const joined = room.join();
    await settle();
    FakeSocket.last.welcome();
    expect(FakeSocket.last.sentOfType('join')[0]).not.toHaveProperty('since');
    FakeSocket.last.receive({ type: 'joined', room: 'lobby', seq: 10 });
    await joined;
    for (const s of [11, 14, 14, 12, 15]) FakeSocket.last.receive(msg(s));
    FakeSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(20);
    FakeSocket.last.welcome();
    expect(FakeSocket.last.sentOfType('join')[0]).toMatchObject({ room: 'lobby', since: 15 });
    FakeSocket.last.receive({ type: 'joined', room: 'lobby', seq: 15 });
    for (const s of [15, 16, 17]) FakeSocket.last.receive(msg(s));
    expect(seen).toEqual([11, 14, 15, 16, 17]);
    expect(room.lastSeq).toBe(17);
    client.close();
  });

  it('seq - a history_unavailable for a joined room (the gateway dropped it after joined) rejoins with since on the same connection', async () => {
    const { client } = start({ reconnect: { baseMs: 10 } });
    const room = client.room('lobby');
    const seen: number[] = [];
    room.on('message', (m) => seen.push(m.seq as number));
    const joined = room.join();
    await settle();
    const socket = FakeSocket.last;
    socket.welcome();
    socket.receive({ type: 'joined', room: 'lobby', seq: 4 });
    await joined;
    socket.receive(msg(5));
    socket.receive({ type: 'error', room: 'lobby', code: 'history_unavailable', message: 'the replay of this room failed after joined', temporary: true });
    const pending = room.publish('waits for the rejoin');
    expect(socket.sentOfType('publish')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.last).toBe(socket);
    expect(socket.sentOfType('join').at(-1)).toMatchObject({ room: 'lobby', since: 5 });
    socket.receive({ type: 'joined', room: 'lobby', seq: 5 });
    socket.receive(msg(6));
    const [publish] = socket.sentOfType('publish');
    expect(publish).toMatchObject({ room: 'lobby', data: 'waits for the rejoin' });
    socket.receive({ type: 'ack', id: publish?.id, msgId: 'm7', seq: 7 });
    await expect(pending).resolves.toMatchObject({ msgId: 'm7' });
    expect(seen).toEqual([5, 6]);
    client.close();
  });

  it('seq - history_gap emits gap with the newest page', async () => {
    const { client } = start({ reconnect: { baseMs: 10 } });
    const room = client.room('lobby');
    const gaps: unknown[] = [];
    room.on('gap', (g) => gaps.push(g));
    room.join().catch(() => {});
    await settle();
    FakeSocket.last.welcome();
    FakeSocket.last.receive({ type: 'joined', room: 'lobby', seq: 3 });
    FakeSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(20);
    const socket = FakeSocket.last;
    socket.welcome();
    socket.receive({ type: 'error', room: 'lobby', code: 'history_gap', message: 'gone', temporary: false });
    socket.receive({ type: 'joined', room: 'lobby', seq: 3 });
    const [query] = socket.sentOfType('history');
    expect(query).toMatchObject({ room: 'lobby', limit: 50 });
    socket.receive({ type: 'history', id: query?.id, room: 'lobby', messages: [msg(90)], first: 90, last: 90, more: true });
    await settle();
    expect(gaps).toEqual([{ since: 3, newest: { messages: [msg(90)], first: 90, last: 90, more: true } }]);
    client.close();
  });

  it('seq - tenants without history get a missed event after a rejoin and no repeated msgId', async () => {
    const { client } = start({ reconnect: { baseMs: 10 } });
    const room = client.room('lobby');
    const missed = vi.fn();
    const ids: string[] = [];
    room.on('missed', missed);
    room.on('message', (m) => ids.push(m.msgId));
    room.join().catch(() => {});
    await settle();
    FakeSocket.last.welcome();
    FakeSocket.last.receive({ type: 'joined', room: 'lobby' });
    const plain = { type: 'message', room: 'lobby', from: { user: 'ben' }, data: 1, ts: 1 };
    FakeSocket.last.receive({ ...plain, msgId: 'a' });
    FakeSocket.last.receive({ ...plain, msgId: 'a' });
    FakeSocket.last.receive({ ...plain, msgId: 'b' });
    FakeSocket.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(20);
    FakeSocket.last.welcome();
    expect(FakeSocket.last.sentOfType('join')[0]).not.toHaveProperty('since');
    FakeSocket.last.receive({ type: 'joined', room: 'lobby' });
    expect(missed).toHaveBeenCalledTimes(1);
    expect(ids).toEqual(['a', 'b']);
    client.close();
  });

  it('members - snapshot plus events that arrived while it loaded', async () => {
    const { client } = start();
    const room = client.room('lobby');
    const joins: string[] = [];
    room.on('member.join', (m) => joins.push(m.user));
    room.join().catch(() => {});
    await settle();
    const socket = FakeSocket.last;
    socket.welcome();
    socket.receive({ type: 'joined', room: 'lobby', seq: 1 });
    const [query] = socket.sentOfType('presence');
    socket.receive({ type: 'presence.join', room: 'lobby', user: 'cat' });
    socket.receive({ type: 'presence.leave', room: 'lobby', user: 'ben' });
    socket.receive({ type: 'presence', id: query?.id, room: 'lobby', users: 2, connections: 2, members: [{ user: 'ann', connections: 1 }, { user: 'ben', connections: 1, info: { name: 'Ben' } }] });
    await settle();
    expect([...room.members.keys()].sort()).toEqual(['ann', 'cat']);
    socket.receive({ type: 'presence.join', room: 'lobby', user: 'dan', info: { name: 'Dan' } });
    expect(room.members.get('dan')).toEqual({ user: 'dan', info: { name: 'Dan' } });
    expect(joins).toEqual(['dan']);
    client.close();
  });

  it('direct - incoming direct messages are events; a join refused for good is an error', async () => {
    const { client } = start();
    const got = vi.fn();
    client.on('direct', got);
    const room = client.room('secret');
    const joined = room.join();
    await settle();
    FakeSocket.last.welcome();
    FakeSocket.last.receive({ type: 'direct', msgId: 'd1', from: { user: 'ben' }, data: 'psst', ts: 5 });
    expect(got).toHaveBeenCalledWith({ msgId: 'd1', from: { user: 'ben' }, data: 'psst', ts: 5 });
    const [join] = FakeSocket.last.sentOfType('join');
    FakeSocket.last.receive({ type: 'error', id: join?.id, code: 'forbidden', message: 'no', temporary: false });
    await expect(joined).rejects.toMatchObject({ code: 'forbidden', temporary: false });
    client.close();
  });

  it('rooms - publishes waiting for a join refused for good are sent anyway and get their own answer', async () => {
    const { client } = start();
    const room = client.room('secret');
    room.join().catch(() => {});
    const published = room.publish('x');
    await settle();
    FakeSocket.last.welcome();
    expect(FakeSocket.last.sentOfType('publish')).toHaveLength(0);
    const [join] = FakeSocket.last.sentOfType('join');
    FakeSocket.last.receive({ type: 'error', id: join?.id, code: 'forbidden', message: 'no', temporary: false });
    await settle();
    const [publish] = FakeSocket.last.sentOfType('publish');
    FakeSocket.last.receive({ type: 'error', id: publish?.id, code: 'forbidden', message: 'no', temporary: false });
    await expect(published).rejects.toMatchObject({ code: 'forbidden' });
    client.close();
  });

  it('rooms - a room left while its join was on the way is left on the server when joined arrives', async () => {
    const { client } = start();
    const room = client.room('brief');
    room.join().catch(() => {});
    await settle();
    FakeSocket.last.welcome();
    await room.leave();
    FakeSocket.last.receive({ type: 'joined', room: 'brief', seq: 1 });
    expect(FakeSocket.last.sentOfType('leave')).toMatchObject([{ room: 'brief' }]);
    expect(room.joined).toBe(false);
    client.close();
  });
});
