import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { Emitter } from './emitter.ts';
import { ParleyError, isFatalClose } from './errors.ts';
import { randomId, tokenExpiry } from './ids.ts';
import { PublishQueue, type OutgoingEntry } from './publish-queue.ts';
import { Room, type PublishAck, type RoomHost } from './room.ts';
import { SseSocket } from './sse-socket.ts';
import { MODERATION_EVENT_TYPES, type DirectMessage, type ServerFrame, type ServerLimits, type WebSocketConstructor, type WebSocketLike } from './types.ts';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';
export type Transport = 'websocket' | 'sse';

export interface StateChange {
  state: ConnectionState;
  /** Why: `connect`, `welcome`, the close reason, `offline`, `closed by the application`… */
  reason: string;
  /** The failure behind `reconnecting` or `disconnected`; a 41xx close stops with `temporary: false`. */
  error?: ParleyError;
  /** When `reconnecting`: ms until the next attempt (undefined while waiting to be online). */
  delayMs?: number;
}

export interface ClientOptions {
  /** Gateway WebSocket URL(s) (`ws(s)://host/v1/ws`); a list is tried in turn. */
  url?: string | readonly string[];
  /** Alias of `url` for a list. */
  urls?: readonly string[];
  /** Returns a user token from the application's backend: called to connect, before `exp`, and after 4001. */
  getToken: () => string | Promise<string>;
  /** A WebSocket constructor for runtimes without a global one. */
  WebSocket?: WebSocketConstructor;
  /**
   * Transports, in order of preference (default `['websocket', 'sse']`). An attempt that fails
   * before its transport opened (a proxy that breaks WebSockets) makes the next one use the other,
   * at once; the client keeps the one that reached `welcome`.
   */
  transports?: ReadonlyArray<Transport>;
  /** Reconnect backoff (full jitter): base 500 ms, cap 30 s by default. */
  reconnect?: BackoffOptions;
  /** Give up a connection attempt without `welcome` after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Ping an open connection this often (default 25 s; 0 disables); no reply within 10 s reconnects. */
  pingIntervalMs?: number;
  /** Refresh the token this long before `exp` (default 30 s; at most half the token's remaining life). */
  refreshLeadMs?: number;
  /** Publishes waiting for a connection or an ack, at most (default 100); more are refused with `queue_full`. */
  maxQueuedPublishes?: number;
  /** Connect at once (default true); otherwise call `connect()`. */
  autoConnect?: boolean;
}

export interface ClientEvents {
  state: StateChange;
  /** A direct message to this user. */
  direct: DirectMessage;
  /** A notice that is nobody's reply (a failed token refresh, an unexpected error frame). */
  error: ParleyError;
}

interface Pending {
  resolve(frame: ServerFrame): void;
  reject(error: ParleyError): void;
}

const PONG_TIMEOUT_MS = 10_000;
const OPEN = 1;

/**
 * A Parley connection that stays up: reconnects with backoff, refreshes its token, rejoins and
 * resumes rooms, and queues publishes while offline.
 */
export class ParleyClient extends Emitter<ClientEvents> {
  state: ConnectionState = 'disconnected';
  /** From the last `welcome`. */
  user: string | undefined;
  conn: string | undefined;
  ns: string | undefined;
  limits: ServerLimits | undefined;

  private readonly options: ClientOptions;
  private readonly urls: readonly string[];
  private readonly sockets: Array<[Transport, WebSocketConstructor]>;
  /** The transport of the next attempt (index into `sockets`), and those tried since the last `welcome`. */
  private socketIndex = 0;
  private readonly tried = new Set<Transport>();
  private opened = false;
  /** Attempts in a row, since the last welcome, whose transport failed before it opened, by transport. */
  private readonly failedBeforeOpen = new Map<Transport, number>();
  /** The transport of the current connection. */
  transport: Transport | undefined;
  private readonly rooms = new Map<string, Room>();
  private readonly queue: PublishQueue;
  private readonly pending = new Map<string, Pending>();
  private readonly roomHost: RoomHost;
  private ws: WebSocketLike | undefined;
  private welcomed = false;
  private nextId = 1;
  private attempt = 0;
  private urlIndex = 0;
  private generation = 0;
  private stopped = true;
  private serverDelayUntil = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private socketTimers: Array<ReturnType<typeof setTimeout>> = [];
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly detachNetwork: () => void;

  constructor(options: ClientOptions) {
    super();
    this.options = options;
    const urls = options.urls ?? options.url;
    this.urls = typeof urls === 'string' ? [urls] : [...(urls ?? [])];
    if (this.urls.length === 0) throw new TypeError('createClient: `url` is required');
    const Socket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    const constructors: Record<Transport, WebSocketConstructor | undefined> = { websocket: Socket, sse: SseSocket };
    this.sockets = (options.transports ?? ['websocket', 'sse']).flatMap((t) => (constructors[t] ? [[t, constructors[t]] as [Transport, WebSocketConstructor]] : []));
    if (this.sockets.length === 0) throw new TypeError('createClient: no transport: pass `WebSocket`, or allow `sse`');
    this.queue = new PublishQueue(options.maxQueuedPublishes ?? 100);
    const self = this;
    this.roomHost = {
      get connected() {
        return self.connected;
      },
      request: (frame) => this.request(frame),
      publish: (room, data, ephemeral) => this.send({ type: 'publish', room, data, ...(ephemeral && { ephemeral }) }, room, ephemeral),
      flush: (room) => this.flush((e) => e.room === room),
      sendBinary: (bytes) => {
        if (this.transport === 'sse') throw new ParleyError('binary_unsupported', 'binary frames cannot be sent over SSE', false);
        const ws = this.ws;
        if (!ws || !this.welcomed || ws.readyState !== OPEN) throw new ParleyError('disconnected', 'not connected', true);
        ws.send(bytes);
      },
    };
    this.detachNetwork = this.watchNetwork();
    if (options.autoConnect !== false) this.connect();
  }

  /** `welcome` received on the current socket. */
  get connected(): boolean {
    return this.welcomed;
  }

  /** Publishes waiting for a connection or an ack. */
  get queued(): number {
    return this.queue.size;
  }

  /** The room of this name (one object per name). Call `join()` on it to receive its messages. */
  room(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) this.rooms.set(name, (room = new Room(name, this.roomHost)));
    return room;
  }

  /** Sends a direct message to every connection of `user` (same namespace). */
  direct(user: string, data: unknown): Promise<PublishAck> {
    return this.send({ type: 'direct', to: user, data }, undefined, false);
  }

  /** Starts connecting (after `close()` or with `autoConnect: false`). */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    void this.open('connecting', 'connect');
  }

  /** Closes the connection for good; pending and queued requests fail with `closed`. */
  close(): void {
    this.stop(new ParleyError('closed', 'closed by the application', false), 'closed by the application');
    this.detachNetwork();
  }

  private stop(error: ParleyError, reason: string): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.dropSocket(1000, reason, false);
    this.queue.reject(error);
    this.rejectPending(error);
    for (const room of this.rooms.values()) room.stopped(error);
    this.setState({ state: 'disconnected', reason, ...(error.code !== 'closed' && { error }) });
  }

  private setState(change: StateChange): void {
    this.state = change.state;
    this.emit('state', change);
  }

  private async open(state: ConnectionState, reason: string): Promise<void> {
    const generation = ++this.generation;
    if (state !== this.state || state === 'connecting') this.setState({ state, reason });
    let token: string;
    try {
      token = await this.options.getToken();
    } catch (error) {
      if (generation === this.generation && !this.stopped) this.retry(new ParleyError('token_failed', `getToken failed: ${(error as Error)?.message ?? error}`, true));
      return;
    }
    if (generation !== this.generation || this.stopped) return;
    const url = this.urls[this.urlIndex++ % this.urls.length] as string;
    const [transport, Socket] = this.sockets[this.socketIndex]!;
    this.tried.add(transport);
    this.transport = transport;
    let ws: WebSocketLike;
    try {
      ws = new Socket(url, ['parley.v1', 'parley.token.' + token]);
    } catch (error) {
      this.retry(new ParleyError('connect_failed', String((error as Error)?.message ?? error), true));
      return;
    }
    this.ws = ws;
    this.welcomed = false;
    this.opened = false;
    ws.onopen = () => (this.opened = true);
    this.socketTimers.push(setTimeout(() => this.lose(ws, 4000, 'no welcome in time'), this.options.connectTimeoutMs ?? 10_000));
    if ('binaryType' in ws) ws.binaryType = 'arraybuffer';
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      if (typeof event.data === 'string') this.onFrame(ws, event.data);
      else if (event.data instanceof ArrayBuffer || ArrayBuffer.isView(event.data)) this.onBinary(event.data);
    };
    ws.onclose = (event) => this.lose(ws, event.code, event.reason);
    ws.onerror = () => {}; // a close event follows
  }

  /** The socket `ws` is gone (closed by the server, timed out, offline). */
  private lose(ws: WebSocketLike, code: number, reason: string): void {
    if (this.ws !== ws) return;
    const neverOpened = !this.opened;
    this.dropSocket(1000, reason, true);
    const error = ParleyError.fromClose(code, reason);
    if (isFatalClose(code)) return this.stop(error, reason || error.code);
    if (this.stopped) return;
    if (neverOpened && this.nextTransport()) return this.retry(error, 0);
    this.retry(error);
  }

  /** Forgets the current socket (closing it); in-flight publishes wait to be resent. */
  private dropSocket(code: number, reason: string, resend: boolean): void {
    const ws = this.ws;
    this.ws = undefined;
    this.welcomed = false;
    for (const t of this.socketTimers) clearTimeout(t);
    this.socketTimers = [];
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try {
        ws.close(code, reason.slice(0, 100));
      } catch {
        // already closed
      }
    }
    if (!resend) return;
    // Ephemeral events and directs are not resent (no dedupe for them): they fail, temporarily.
    this.queue.reject(new ParleyError('disconnected', 'the connection was lost before the ack; it may have been delivered', true), (e) => e.requestId !== undefined && (e.frame.ephemeral === true || e.frame.type === 'direct'));
    this.queue.unsend();
    this.rejectPending(new ParleyError('disconnected', 'the connection was lost', true));
    for (const room of this.rooms.values()) room.disconnected();
  }

  /**
   * After an attempt whose transport failed before it opened: a transport that failed so on
   * every URL in turn (the preferred one at least twice: one gateway down or restarting is not a
   * proxy that refuses WebSockets) gives way to the next. When every transport has, the network
   * or the gateways are down: start over with the preferred one. True when the next attempt
   * should go at once (a transport not tried since the last welcome).
   */
  private nextTransport(): boolean {
    if (this.sockets.length < 2) return false;
    const enough = (index: number) => Math.max(this.urls.length, index === 0 ? 2 : 1);
    const index = this.socketIndex;
    const [transport] = this.sockets[index]!;
    const failures = (this.failedBeforeOpen.get(transport) ?? 0) + 1;
    this.failedBeforeOpen.set(transport, failures);
    if (failures < enough(index)) return false;
    const next = this.sockets.findIndex(([t], i) => (this.failedBeforeOpen.get(t) ?? 0) < enough(i));
    if (next === -1) {
      this.failedBeforeOpen.clear();
      this.socketIndex = 0;
      return false;
    }
    this.socketIndex = next;
    return !this.tried.has(this.sockets[next]![0]);
  }

  private retry(error: ParleyError, immediately?: 0): void {
    const now = Date.now();
    let delay = immediately ?? backoffDelay(this.attempt++, this.options.reconnect);
    if (this.serverDelayUntil > 0) delay = Math.max(0, this.serverDelayUntil - now);
    this.serverDelayUntil = 0;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (isOffline()) {
      this.setState({ state: 'reconnecting', reason: 'offline', error });
      return; // the `online` event reconnects
    }
    this.setState({ state: 'reconnecting', reason: error.message, error, delayMs: delay });
    this.retryTimer = setTimeout(() => void this.open('reconnecting', 'retry'), delay);
  }

  private onFrame(ws: WebSocketLike, text: string): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    clearTimeout(this.pongTimer); // any frame shows the connection is alive
    this.pongTimer = undefined;
    switch (frame.type) {
      case 'welcome':
        return this.onWelcome(ws, frame);
      case 'message':
      case 'presence.join':
      case 'presence.leave':
        this.rooms.get(frame.room)?.handle(frame);
        return;
      case 'direct': {
        const { type: _type, ...message } = frame;
        this.emit('direct', message);
        return;
      }
      case 'reconnect':
        // The gateway drains: come back (anywhere) after `delayMs`, not sooner.
        this.serverDelayUntil = Date.now() + frame.delayMs;
        this.socketTimers.push(setTimeout(() => this.lose(ws, 4000, frame.reason), frame.delayMs));
        return;
      case 'pong':
        return;
    }
    if (MODERATION_EVENT_TYPES.has(frame.type)) return this.rooms.get((frame as { room: string }).room)?.handle(frame);
    if (frame.type === 'joined') this.rooms.get(frame.room)?.handle(frame);
    if (frame.type === 'error' && frame.room !== undefined && frame.id === undefined) this.rooms.get(frame.room)?.handle(frame);
    const id = 'id' in frame && frame.id !== undefined ? String(frame.id) : undefined;
    if (id === undefined) {
      // A room's errors are its own (a gap, a replay to retry, a removal: its events say so). Before
      // `welcome` an error is the gateway refusing the connection: the close that follows reports it
      // in the `state` event (a draining gateway's `shutting_down` is routine in a deploy).
      if (frame.type === 'error' && frame.room === undefined && this.welcomed) this.emit('error', ParleyError.fromFrame(frame));
      return;
    }
    const entry = this.queue.settle(id);
    if (entry) {
      if (frame.type === 'error') entry.reject(ParleyError.fromFrame(frame));
      else if (frame.type === 'ack') entry.resolve({ msgId: frame.msgId ?? '', ...(frame.seq !== undefined && { seq: frame.seq }) });
      return;
    }
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    if (frame.type === 'error') pending.reject(ParleyError.fromFrame(frame));
    else pending.resolve(frame);
  }

  /** A binary frame: `[1] [room length] [room] [sender length] [sender] [payload]` (lengths u16 big-endian). */
  private onBinary(data: ArrayBuffer | ArrayBufferView): void {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes[0] !== 1 || bytes.length < 5) return;
    const roomEnd = 3 + ((bytes[1]! << 8) | bytes[2]!);
    const senderEnd = roomEnd + 2 + ((bytes[roomEnd]! << 8) | bytes[roomEnd + 1]!);
    if (senderEnd > bytes.length) return;
    const text = new TextDecoder();
    const room = text.decode(bytes.subarray(3, roomEnd));
    this.rooms.get(room)?.handleBinary({ room, from: text.decode(bytes.subarray(roomEnd + 2, senderEnd)), data: bytes.slice(senderEnd) });
  }

  private onWelcome(ws: WebSocketLike, frame: ServerFrame & { type: 'welcome' }): void {
    for (const t of this.socketTimers) clearTimeout(t);
    this.socketTimers = [];
    this.welcomed = true;
    this.attempt = 0;
    this.tried.clear();
    this.failedBeforeOpen.clear();
    this.user = frame.user;
    this.conn = frame.conn;
    this.ns = frame.ns;
    this.limits = frame.limits;
    this.scheduleRefresh(ws, frame.exp);
    this.schedulePing(ws);
    this.setState({ state: 'connected', reason: 'welcome' });
    for (const room of this.rooms.values()) room.connected();
    // Publishes to rooms being rejoined wait for their `joined`.
    this.flush((e) => e.room === undefined || !this.rooms.get(e.room)?.wantsJoin());
  }

  private scheduleRefresh(ws: WebSocketLike, exp: number): void {
    const left = exp * 1000 - Date.now();
    const lead = Math.min(this.options.refreshLeadMs ?? 30_000, left / 2);
    this.socketTimers.push(setTimeout(() => void this.refresh(ws, exp), Math.max(0, left - lead)));
  }

  private async refresh(ws: WebSocketLike, exp: number): Promise<void> {
    try {
      const token = await this.options.getToken();
      if (this.ws !== ws) return;
      await this.request({ type: 'refresh', token });
      this.scheduleRefresh(ws, tokenExpiry(token) ?? exp);
    } catch (error) {
      if (this.ws !== ws) return;
      const e = error instanceof ParleyError ? error : new ParleyError('token_failed', `getToken failed: ${(error as Error)?.message ?? error}`, true);
      this.emit('error', e);
      // Try again while the token lives; if it expires the server closes with 4001 and we reconnect.
      if (e.temporary && exp * 1000 - Date.now() > 2000) this.socketTimers.push(setTimeout(() => void this.refresh(ws, exp), 1000));
    }
  }

  private schedulePing(ws: WebSocketLike): void {
    const every = this.options.pingIntervalMs ?? 25_000;
    if (every <= 0) return;
    const timer = setInterval(() => {
      if (this.ws !== ws) return clearInterval(timer);
      this.write({ type: 'ping' });
      this.pongTimer ??= setTimeout(() => this.lose(ws, 1006, 'no reply to ping'), PONG_TIMEOUT_MS);
    }, every);
    this.socketTimers.push(timer);
  }

  private write(frame: Record<string, unknown>): boolean {
    const ws = this.ws;
    if (!ws || !this.welcomed || ws.readyState !== OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  private request(frame: Record<string, unknown>): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      const id = String(this.nextId++);
      if (!this.write({ ...frame, id })) return reject(new ParleyError('disconnected', 'not connected', true));
      this.pending.set(id, { resolve, reject });
    });
  }

  private rejectPending(error: ParleyError): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }

  /** A publish or direct: sent now or queued; settled by its ack. */
  private send(frame: Record<string, unknown>, room: string | undefined, ephemeral: boolean): Promise<PublishAck> {
    return new Promise((resolve, reject) => {
      if (this.stopped && this.state === 'disconnected') return reject(new ParleyError('closed', 'the client is closed', false));
      const ready = this.connected && (room === undefined || !this.rooms.get(room)?.wantsJoin());
      if (ephemeral && !ready) return reject(new ParleyError('disconnected', 'ephemeral events are not queued while disconnected', true));
      const pid = randomId();
      const entry: OutgoingEntry = { pid, frame: frame.type === 'publish' ? { ...frame, pid } : frame, room, requestId: undefined, resolve, reject };
      if (!this.queue.add(entry)) return reject(new ParleyError('queue_full', `${this.queue.max} publishes are already waiting`, true));
      if (ready) this.flush((e) => e === entry);
    });
  }

  /** Sends the waiting publishes `ready` selects, in order. */
  private flush(ready: (entry: OutgoingEntry) => boolean): void {
    if (!this.connected) return;
    for (const entry of this.queue.waiting(ready)) {
      const id = String(this.nextId++);
      if (!this.write({ ...entry.frame, id })) return;
      entry.requestId = id;
    }
  }

  private watchNetwork(): () => void {
    const target = globalThis as { addEventListener?: (t: string, l: () => void) => void; removeEventListener?: (t: string, l: () => void) => void };
    if (typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function') return () => {};
    const offline = () => {
      if (this.ws) this.lose(this.ws, 1006, 'offline');
    };
    const online = () => {
      if (this.stopped || this.ws) return;
      clearTimeout(this.retryTimer);
      this.attempt = 0;
      void this.open('reconnecting', 'online');
    };
    target.addEventListener('offline', offline);
    target.addEventListener('online', online);
    return () => {
      target.removeEventListener?.('offline', offline);
      target.removeEventListener?.('online', online);
    };
  }
}

function isOffline(): boolean {
  return (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false;
}

/** Creates a client; it connects at once unless `autoConnect: false`. */
export function createClient(options: ClientOptions): ParleyClient {
  return new ParleyClient(options);
}
