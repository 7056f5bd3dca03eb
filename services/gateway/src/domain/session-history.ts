import { HEADER_MSG_ID, HEADER_ORIGIN, HEADER_TIMESTAMP } from '@parley/bus';
import { resolveRetention, type HistoryStore, type HistoryTenant, type StoredMessage } from '@parley/history';
import { ParleyError, encodeRoomMessageFrame, newId, type CLOSE_CODES, type ErrorCode, type RequestId, type RoomMessage, type ServerFrame } from '@parley/protocol';
import type { GatewayMetrics } from '../metrics.ts';
import { RoomCatchUp } from './history-catch-up.ts';
import type { FeedLease, HistoryFeeds } from './history-feeds.ts';
import type { ClientSocket } from './client-socket.ts';
import type { VerifiedToken } from './token-verifier.ts';

/** How many messages a `history` request returns when it gives no `limit`. */
export const DEFAULT_HISTORY_LIMIT = 50;
/** A resume replays at most this many messages; a client that missed more gets `history_gap` and the newest ones. */
export const DEFAULT_MAX_RESUME_MESSAGES = 10_000;
/** Stored messages read per round trip during a resume. */
const REPLAY_PAGE = 500;
/** The replay waits while the socket has more than this many unsent bytes (it is not a slow consumer). */
const REPLAY_MAX_BUFFERED_BYTES = 256 * 1024;

export interface HistoryDeps {
  store: HistoryStore;
  feeds: HistoryFeeds;
  metrics: GatewayMetrics;
  gatewayId: string;
  maxResumeMessages: number;
}

/** What the history side needs from its session (read live: the token changes on refresh). */
export interface HistoryHost {
  readonly ns: string;
  readonly user: string;
  readonly conn: string;
  readonly token: VerifiedToken;
  reply(frame: ServerFrame): void;
  acknowledge(frame: ServerFrame & { type: 'ack' }): void;
  /** A stored publish was acknowledged (for the gateway's `published` hook). */
  published(room: string, msgId: string, seq: number): void;
  error(code: ErrorCode, id?: RequestId, room?: string, message?: string): void;
  leaveRoom(room: string, unsubscribe: boolean): Promise<void>;
  close(reason: keyof typeof CLOSE_CODES, message: string): void;
}

interface Membership {
  lease: FeedLease | undefined;
  catchUp: RoomCatchUp | undefined;
  /** `joined` went out: a failure from then on cannot answer the join request any more. */
  joinedSent?: boolean;
}

/** How a history join ended: `joined`; `left` (the member left or closed meanwhile); `lost` (the replay failed after `joined`). */
export type HistoryJoinOutcome = 'joined' | 'left' | 'lost';

const decoder = new TextDecoder();
const asUnavailable = (error: unknown) => (error instanceof ParleyError ? error : new ParleyError('history_unavailable', undefined, { cause: error }));

/**
 * The history side of one session (tenants with `hist: true`): rooms joined through the room's
 * history feed, resume with `since`, publishes stored before they are acknowledged with their
 * seq, and `history` queries.
 */
export class SessionHistory {
  private readonly rooms = new Map<string, Membership>();
  private readonly host: HistoryHost;
  private readonly socket: ClientSocket;
  private readonly deps: HistoryDeps;
  private tenantOf: VerifiedToken | undefined;
  /** The connection's last publish, settled or not: the next one is stored after it (see `publish`). */
  private lastPublish: Promise<void> = Promise.resolve();
  private cachedTenant: HistoryTenant | undefined;

  constructor(host: HistoryHost, socket: ClientSocket, deps: HistoryDeps) {
    this.host = host;
    this.socket = socket;
    this.deps = deps;
  }

  /** The room's feed failed for good: leave the room and tell the client to rejoin. */
  private lost(room: string) {
    void this.host.leaveRoom(room, true);
    this.host.error('history_unavailable', undefined, room, 'the history feed of this room stopped; join it again with your last seq');
  }

  /** The tenant's settings from the current token (recomputed only when the token changes). */
  private tenant(): HistoryTenant {
    const { token } = this.host;
    if (this.tenantOf !== token) {
      this.tenantOf = token;
      this.cachedTenant = { ns: token.claims.ns, retention: resolveRetention(token.historyRetention), version: token.claims.iat };
    }
    return this.cachedTenant as HistoryTenant;
  }

  /**
   * Joins `room` through its feed. Without `since` the member goes live at once (`joined.seq` is
   * the feed position). With `since` it first gets `history_gap` if messages after it were
   * dropped, then `joined`, then every retained message after `since`, then the live stream.
   * A failure before `joined` rejects (the join request is answered with it); one after it
   * resolves `lost`: the caller must leave the room and tell the client, without the request id.
   */
  async join(room: string, since: number | undefined, id: RequestId | undefined): Promise<HistoryJoinOutcome> {
    const { store, feeds, metrics } = this.deps;
    const membership: Membership = { lease: undefined, catchUp: undefined };
    this.rooms.set(room, membership);
    let lease: FeedLease;
    try {
      await store.ensure(this.tenant());
      lease = await feeds.acquire(this.host.ns, room, () => this.lost(room));
    } catch (error) {
      if (this.rooms.get(room) === membership) this.rooms.delete(room);
      throw asUnavailable(error);
    }
    if (this.rooms.get(room) !== membership || this.socket.closed) {
      lease.release();
      return 'left';
    }
    membership.lease = lease;
    const { feed } = lease;
    if (since === undefined) {
      this.socket.subscribe(feed.topic);
      this.host.reply({ type: 'joined', room, seq: feed.position, ...(id !== undefined && { id }) });
      return 'joined';
    }
    const recent = feed.recentAfter(since, this.tenant().retention);
    if (recent && recent.length <= this.deps.maxResumeMessages) {
      // Synchronous from here to the subscription: no live message can come in between.
      membership.joinedSent = true;
      this.host.reply({ type: 'joined', room, seq: since, ...(id !== undefined && { id }) });
      for (const frame of recent) this.socket.send(frame);
      this.socket.subscribe(feed.topic);
      metrics.historyResumes.inc({ source: 'memory' });
      metrics.historyReplayed.inc(recent.length);
      return 'joined';
    }
    metrics.historyResumes.inc({ source: 'store' });
    const { socket, host } = this;
    const catchUp = new RoomCatchUp(
      {
        get closed() {
          return socket.closed;
        },
        send: (bytes) => socket.send(bytes),
        subscribe: (topic) => socket.subscribe(topic),
        overflow: () => host.close('slow_consumer', 'too many messages arrived during the replay: reconnect and resume'),
      },
      feed,
      since,
    );
    membership.catchUp = catchUp;
    try {
      await this.replay(room, since, id, catchUp, membership);
    } catch (error) {
      catchUp.cancel();
      if (!membership.joinedSent) throw asUnavailable(error);
      return 'lost';
    }
    metrics.historyReplayed.inc(catchUp.replayedCount);
    return 'joined';
  }

  private async replay(room: string, since: number, id: RequestId | undefined, catchUp: RoomCatchUp, membership: Membership) {
    const { store, metrics, maxResumeMessages } = this.deps;
    const { ns } = this.host;
    const check = await store.checkResume(ns, room, since);
    if (!catchUp.active) return;
    if (since > check.last) catchUp.rewind(check.last);
    const tooMany = check.pending > maxResumeMessages;
    if (check.gap || tooMany) {
      metrics.historyGaps.inc({ tenant: ns });
      const why = tooMany ? `more than ${maxResumeMessages} messages were missed; the newest follow` : 'some messages after it are no longer retained';
      this.host.error('history_gap', undefined, room, `cannot resume after seq ${since}: ${why}; reload the room's history`);
    }
    membership.joinedSent = true;
    this.host.reply({ type: 'joined', room, seq: catchUp.lastSent, ...(id !== undefined && { id }) });
    if (tooMany) {
      const newest = (await store.latest(ns, room, maxResumeMessages)).messages;
      for (let i = 0; i < newest.length && catchUp.active; i += REPLAY_PAGE) {
        catchUp.sendStored(newest.slice(i, i + REPLAY_PAGE));
        await this.drained(catchUp);
      }
    }
    while (catchUp.needsStored) {
      const page = await store.after(ns, room, catchUp.lastSent, REPLAY_PAGE);
      catchUp.sendStored(page.messages);
      if (!page.more || page.messages.length === 0) break;
      await this.drained(catchUp);
    }
    catchUp.finish();
  }

  /** Waits (bounded) until the socket has flushed most of what the replay queued. */
  private async drained(catchUp: RoomCatchUp) {
    for (let i = 0; i < 500 && catchUp.active && this.socket.bufferedAmount() > REPLAY_MAX_BUFFERED_BYTES; i++) await new Promise((r) => setTimeout(r, 10));
  }

  /** Leaves a history room; false when `room` was not joined through history. */
  leave(room: string, unsubscribe: boolean): boolean {
    const membership = this.rooms.get(room);
    if (!membership) return false;
    this.rooms.delete(room);
    membership.catchUp?.cancel();
    if (membership.lease) {
      if (unsubscribe) this.socket.unsubscribe(membership.lease.feed.topic);
      membership.lease.release();
    }
    return true;
  }

  /**
   * Stores the message, then acknowledges it with its seq; it reaches members through the feeds.
   * One at a time per connection: a publish starts once the connection's previous one is stored
   * or has failed. Without this, a publish whose first attempt was lost (a NATS reconnect) and
   * retried after its timeout would be stored after the same connection's later messages.
   * A `msgId` stored within the duplicate window is not stored again: the ack carries the first seq.
   */
  publish(room: string, data: unknown, id: RequestId | undefined, msgId = newId()): Promise<void> {
    const run = this.lastPublish.then(() => this.store(room, data, id, msgId));
    this.lastPublish = run.catch(() => {});
    return run;
  }

  private async store(room: string, data: unknown, id: RequestId | undefined, msgId: string) {
    const { store, metrics, gatewayId } = this.deps;
    const { ns, user, conn } = this.host;
    const ts = Date.now();
    const bytes = encodeRoomMessageFrame({ room, msgId, from: { user, conn }, data, ts });
    let seq: number;
    try {
      await store.ensure(this.tenant());
      seq = await store.append(ns, room, bytes, { msgId, headers: { [HEADER_MSG_ID]: msgId, [HEADER_ORIGIN]: gatewayId, [HEADER_TIMESTAMP]: String(ts) } });
    } catch (error) {
      metrics.historyAppends.inc({ tenant: ns, result: 'failed' });
      throw asUnavailable(error);
    }
    metrics.historyAppends.inc({ tenant: ns, result: 'stored' });
    metrics.published.labels(ns, 'room').inc();
    this.host.acknowledge({ type: 'ack', msgId, seq, ...(id !== undefined && { id }) });
    this.host.published(room, msgId, seq);
  }

  /** Answers a `history` request: the newest `limit` messages, those after `after`, or the newest before `before`. */
  async query(room: string, after: number | undefined, limit: number | undefined, id: RequestId | undefined, before?: number) {
    const { store } = this.deps;
    const n = limit ?? DEFAULT_HISTORY_LIMIT;
    let page;
    try {
      await store.ensure(this.tenant());
      const { ns } = this.host;
      page = after !== undefined ? await store.after(ns, room, after, n) : before !== undefined ? await store.before(ns, room, before, n) : await store.latest(ns, room, n);
    } catch (error) {
      throw asUnavailable(error);
    }
    // Moderation events (bans, deletions, …) are stored in the room's log for resumes; a history page lists messages only.
    const messages = page.messages.filter(isMessageFrame).map(toRoomMessage);
    const stored = page.messages;
    this.host.reply({
      type: 'history',
      room,
      messages,
      ...(stored.length > 0 && { first: stored[0]?.seq, last: stored.at(-1)?.seq }),
      more: page.more,
      ...(id !== undefined && { id }),
    });
  }
}

const MESSAGE_PREFIX = new TextEncoder().encode('{"type":"message"');
const isMessageFrame = (m: StoredMessage) => MESSAGE_PREFIX.every((byte, i) => m.data[i] === byte);

function toRoomMessage(m: StoredMessage): RoomMessage {
  const { type: _type, ...message } = JSON.parse(decoder.decode(m.data)) as RoomMessage & { type?: string };
  return { ...message, seq: m.seq };
}
