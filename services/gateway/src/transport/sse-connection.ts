import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClientSocket } from '../domain/client-socket.ts';
import type { ConnectionState } from '../domain/connection.ts';
import { newConnectionState } from '../domain/connection.ts';
import { CLOSE_REASONS } from './uws-client-socket.ts';
import type { HttpResponse } from './uws.ts';

/** @default 256 KiB: the newest events a connection keeps for a `Last-Event-ID` resume (and may queue while its stream is lost). */
export const SSE_REPLAY_BYTES = 256 * 1024;

const EVENT_END = Buffer.from('\n\n');
const HEARTBEAT = Buffer.from(':\n\n');

export interface SseConnectionHooks {
  subscribe(connection: SseConnection, topic: string): void;
  unsubscribe(connection: SseConnection, topic: string): void;
  /** The connection is over (either side); the transport forgets it and the life cycle closes the session. */
  closed(connection: SseConnection, reason: string): void;
  slowConsumer(connection: SseConnection): void;
}

/** Connections with events queued this turn, written together once its microtasks have run. */
const withQueuedEvents: SseConnection[] = [];
const writeQueuedEvents = () => {
  for (let i = 0; i < withQueuedEvents.length; i++) {
    try {
      withQueuedEvents[i]!.flush();
    } catch {
      // One connection's failed write must not keep the others' events queued.
    }
  }
  withQueuedEvents.length = 0;
};

/**
 * One SSE connection: the domain's socket over a stream that may be lost and resumed. Every
 * server frame is an event with an increasing id; the newest SSE_REPLAY_BYTES of them are kept,
 * so a stream resumed with `Last-Event-ID` gets the ones it missed.
 */
export class SseConnection implements ClientSocket {
  readonly id: string;
  readonly ticket: string;
  /**
   * Part of every event id (`<n>.<key>`), so a resume must present it in `Last-Event-ID`: a
   * header, never in a URL, which browsers' EventSource sends by itself. The ticket alone (in the
   * stream's URL, which proxies may log) cannot take a stream over.
   */
  private readonly resumeKey = randomBytes(16).toString('base64url');
  /** Required with every POST and the DELETE (`Authorization: Bearer <key>`): the connection's id is in their URLs, the key is not. */
  readonly sendKey = randomBytes(24).toString('base64url');
  readonly state: ConnectionState;
  readonly topics = new Set<string>();
  private readonly hooks: SseConnectionHooks;
  private readonly options: { maxBackpressureBytes: number; replayBytes: number; resumeGraceMs: number };
  private res: HttpResponse | undefined;
  private nextEventId = 1;
  private readonly replay: Array<{ id: number; chunk: Buffer }> = [];
  private replayHead = 0;
  private replayBytes = 0;
  /** Events of this turn, not yet written. */
  private queued: Buffer[] | undefined;
  /** Bytes written since the last write that went out without backpressure: what the client has not read yet, at most. */
  private unreadBytes = 0;
  /** Bytes sent while no stream was attached. */
  private detachedBytes = 0;
  private graceTimer: NodeJS.Timeout | undefined;
  private ended = false;
  /** Responses uWebSockets.js reported aborted: never to be touched again. */
  private readonly aborted = new WeakSet<HttpResponse>();

  constructor(id: string, ticket: string, token: string, origin: string | undefined, hooks: SseConnectionHooks, options: SseConnection['options']) {
    this.id = id;
    this.ticket = ticket;
    this.state = newConnectionState(token, origin);
    this.hooks = hooks;
    this.options = options;
  }

  /** Whether `key` is this connection's send key (in constant time). */
  accepts(key: string | undefined): boolean {
    if (key === undefined || key.length !== this.sendKey.length) return false;
    return timingSafeEqual(Buffer.from(key), Buffer.from(this.sendKey));
  }

  get closed() {
    return this.state.closed || this.ended;
  }

  /** The first event of a stream: the connection's id, where its frames go and the key they need. Not replayed. */
  announce(connection: { connection: string; send: string; key: string }) {
    this.res?.write(`event: connection\ndata: ${JSON.stringify(connection)}\n\n`);
  }

  /** `binary`: a binary frame, sent as `event: binary` with the bytes in base64 (SSE carries text). */
  send(payload: string | Uint8Array, binary = false) {
    if (this.closed || this.state.closeReason === 'slow_consumer') return;
    const id = this.nextEventId++;
    const chunk = binary
      ? Buffer.from(`id: ${id}.${this.resumeKey}\nevent: binary\ndata: ${Buffer.from(payload).toString('base64')}\n\n`)
      : Buffer.concat([Buffer.from(`id: ${id}.${this.resumeKey}\ndata: `), typeof payload === 'string' ? Buffer.from(payload) : payload, EVENT_END]);
    this.keep(id, chunk);
    if (!this.res) {
      this.detachedBytes += chunk.length;
      if (this.detachedBytes > this.options.replayBytes) this.slowConsumer();
      return;
    }
    if (this.queued) this.queued.push(chunk);
    else {
      this.queued = [chunk];
      if (withQueuedEvents.push(this) === 1) queueMicrotask(writeQueuedEvents);
    }
  }

  sendBatched(payload: string | Uint8Array) {
    this.send(payload);
  }

  /** A room frame from the fan-out. */
  deliver(data: Uint8Array, binary = false) {
    this.send(data, binary);
  }

  bufferedAmount() {
    return this.unreadBytes;
  }

  subscribe(topic: string) {
    if (this.closed || this.state.closeReason === 'slow_consumer' || this.topics.has(topic)) return;
    this.topics.add(topic);
    this.hooks.subscribe(this, topic);
  }

  unsubscribe(topic: string) {
    if (!this.topics.delete(topic)) return;
    this.hooks.unsubscribe(this, topic);
  }

  /** Closes with a close code: an `event: close` tells the client why, then the stream ends. */
  end(code: number, reason: string) {
    if (this.ended) return;
    this.state.closeReason ??= CLOSE_REASONS.get(code);
    this.flush();
    const res = this.res;
    this.finish(this.state.closeReason ?? 'client');
    res?.cork(() => res.end(`event: close\ndata: ${JSON.stringify({ code, reason: CLOSE_REASONS.get(code) ?? reason, message: reason })}\n\n`));
  }

  /** `DELETE …/connections/{id}`: the client is done. */
  closeByClient() {
    if (this.ended) return;
    this.flush();
    const res = this.res;
    this.finish('client');
    res?.cork(() => res.end());
  }

  /** Writes this turn's events in one system call. */
  flush() {
    const events = this.queued;
    if (!events) return;
    this.queued = undefined;
    const res = this.res;
    if (!res || this.ended) return;
    const chunk = events.length === 1 ? events[0]! : Buffer.concat(events);
    res.cork(() => this.write(res, chunk));
  }

  heartbeat() {
    const res = this.res;
    if (res && !this.ended) res.cork(() => this.write(res, HEARTBEAT));
  }

  /** Attaches a stream; the events after `after` are written to it first (a resume). */
  attach(res: HttpResponse, after: number) {
    if (this.res && this.res !== res) {
      const old = this.res;
      this.res = undefined;
      old.close();
    }
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.res = res;
    this.detachedBytes = 0;
    this.unreadBytes = 0;
    this.queued = undefined;
    const missed: Buffer[] = [];
    for (let i = this.replayHead; i < this.replay.length; i++) if (this.replay[i]!.id > after) missed.push(this.replay[i]!.chunk);
    if (missed.length > 0) this.write(res, Buffer.concat(missed));
  }

  /**
   * The event a `Last-Event-ID` names, when it is this connection's and every event after it is
   * still kept; undefined otherwise. A stream still attached may be taken over: the client's side
   * of it may be gone (a proxy dropped it) before the gateway notices.
   */
  resumePoint(lastEventId: string): number | undefined {
    const dot = lastEventId.indexOf('.');
    const after = Number(lastEventId.slice(0, dot));
    if (this.ended || dot <= 0 || lastEventId.slice(dot + 1) !== this.resumeKey || !Number.isSafeInteger(after) || after < 0 || after >= this.nextEventId) return undefined;
    const oldest = this.replayHead < this.replay.length ? this.replay[this.replayHead]!.id : this.nextEventId;
    return after >= oldest - 1 ? after : undefined;
  }

  /** The stream was lost (the client or a proxy closed it): wait for a resume, then give up. */
  detached(res: HttpResponse) {
    this.aborted.add(res);
    if (this.res !== res) return;
    this.res = undefined;
    this.queued = undefined;
    if (this.ended) return;
    this.graceTimer = setTimeout(() => this.finish('abnormal'), this.options.resumeGraceMs);
    this.graceTimer.unref();
  }

  private write(res: HttpResponse, chunk: Buffer) {
    if (res.write(chunk)) {
      this.unreadBytes = 0;
      return;
    }
    this.unreadBytes += chunk.length;
    if (this.unreadBytes > this.options.maxBackpressureBytes) this.slowConsumer();
  }

  private keep(id: number, chunk: Buffer) {
    this.replay.push({ id, chunk });
    this.replayBytes += chunk.length;
    while (this.replayBytes > this.options.replayBytes && this.replayHead < this.replay.length - 1) {
      this.replayBytes -= this.replay[this.replayHead]!.chunk.length;
      this.replay[this.replayHead++] = undefined as never;
    }
    if (this.replayHead > 1024 && this.replayHead * 2 > this.replay.length) {
      this.replay.splice(0, this.replayHead);
      this.replayHead = 0;
    }
  }

  /**
   * A client that does not read, or whose stream stayed lost while too much was sent: the
   * connection is closed with 4002 (it reconnects and resumes with `since`). The close event goes
   * behind what is buffered, on the next turn (not inside the write that found the overflow);
   * uWebSockets.js drops the socket if the client never reads it.
   */
  private slowConsumer() {
    if (this.ended) return;
    this.state.closeReason = 'slow_consumer';
    this.hooks.slowConsumer(this);
    const res = this.res;
    this.finish('slow_consumer');
    if (!res) return;
    setImmediate(() => {
      if (this.aborted.has(res)) return;
      res.cork(() => res.end(`event: close\ndata: ${JSON.stringify({ code: 4002, reason: 'slow_consumer', message: 'send buffer overflow: read faster, then reconnect and resume' })}\n\n`));
    });
  }

  private finish(reason: string) {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.graceTimer);
    this.res = undefined;
    this.queued = undefined;
    this.replay.length = 0;
    this.replayBytes = 0;
    this.hooks.closed(this, reason);
  }
}
