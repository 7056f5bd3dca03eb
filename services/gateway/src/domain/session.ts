import { HEADER_ORIGIN, type Bus } from '@parley/bus';
import type { PresenceStore } from '@parley/presence-store';
import {
  CLOSE_CODES, ParleyError, PROTOCOL_VERSION, decodeClientBinaryFrame, decodeClientFrame, encodeMemberBinaryFrame, encodeDirectFrame, encodeRoomEvents, encodeRoomMessageFrame, encodeServerFrame,
  errorBody, isUserId, joinEvents, leaveEvents, newId, subjects, type ClientFrame, type ErrorCode, type PresenceTransitions, type RequestId, type ServerFrame
} from '@parley/protocol';
import type { Logger } from '@parley/observability';
import type { GatewayMetrics } from '../metrics.ts';
import type { Hub } from './hub.ts';
import { SessionHistory, type HistoryDeps, type HistoryJoinOutcome } from './session-history.ts';
import type { TenantLimits } from './limits.ts';
import type { ExpiryWheel } from './expiry-wheel.ts';
import { TokenBucket } from './token-bucket.ts';
import { publishMsgId, type PublishDedupe } from './publish-dedupe.ts';
import type { TokenVerifier, VerifiedToken } from './token-verifier.ts';
import type { ClientSocket } from './client-socket.ts';
import type { GatewayEvents } from './gateway-events.ts';
import type { RoomModerationGuard } from './room-moderation.ts';

export interface SessionDeps {
  gatewayId: string;
  bus: Bus;
  hub: Hub;
  presence: PresenceStore;
  /** History (store and room feeds); absent when the gateway runs without history. */
  history?: HistoryDeps;
  verifyToken: TokenVerifier;
  /** Closes sessions whose token expired. */
  expiry: ExpiryWheel<Session>;
  /** The effective limits of a token (shared between tokens with equal `lim` claims). */
  limitsOf(token: VerifiedToken): TenantLimits;
  metrics: GatewayMetrics;
  logger: Logger;
  floodCloseAfter: number;
  violationsCloseAfter: number;
  /** Called when a session's membership changes, so the core can track it for presence beats. */
  onRoomsChanged(session: Session): void;
  isRevoked(token: VerifiedToken): boolean;
  /** Publish ids seen recently (tenants without history). */
  dedupe: PublishDedupe;
  /** Grants every session its stall credit now if the process was just stalled (see the gateway core). */
  checkStall(): void;
  /** The hooks features plug in (see gateway-events.ts); no hook is called when none is set. */
  events: GatewayEvents;
  /** Bans, mutes, room settings and the moderators' frames (see room-moderation.ts). */
  moderation: RoomModerationGuard;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * One authenticated connection: its token, rooms, rate limit, and the handling of every client
 * frame. Frames are validated once here; replies echo the request `id`.
 */
export class Session {
  readonly conn = newId();
  readonly rooms = new Set<string>();
  token: VerifiedToken;
  limits: TenantLimits;
  private readonly socket: ClientSocket;
  private readonly deps: SessionDeps;
  private bucket: TokenBucket;
  /** Ephemeral publishes have their own rate, so typing indicators do not eat the message budget. */
  private ephemeralBucket: TokenBucket;
  private refusedInARow = 0;
  private violations = 0;
  /** Joined rooms whose messages come from their history feed (the rest come from the bus). */
  private historyRooms: Set<string> | undefined;
  private historySide: SessionHistory | undefined;

  constructor(socket: ClientSocket, token: VerifiedToken, deps: SessionDeps) {
    this.socket = socket;
    this.token = token;
    this.deps = deps;
    this.limits = deps.limitsOf(token);
    this.bucket = new TokenBucket(this.limits.messagesPerSecond, this.limits.burst);
    this.ephemeralBucket = new TokenBucket(this.limits.messagesPerSecond, this.limits.burst);
  }

  get ns() {
    return this.token.claims.ns;
  }
  get user() {
    return this.token.claims.sub;
  }
  get closed() {
    return this.socket.closed;
  }

  /** A frame over the rate: maybe the process was just stalled (frames sent meanwhile arrive at once); credit first, then take again. */
  private takeAfterStallCheck(ephemeral: boolean): boolean {
    this.deps.checkStall();
    return (ephemeral ? this.ephemeralBucket : this.bucket).take();
  }

  /** This process was stalled for `ms`: frames sent at an allowed pace meanwhile are not refused as a flood. */
  creditStall(ms: number) {
    this.bucket.credit(ms / 1000);
  }

  /** The history side, when this token's tenant keeps history and the gateway has a store. */
  private get history(): SessionHistory | undefined {
    const deps = this.deps.history;
    if (!deps || !this.token.historyEnabled) return undefined;
    return (this.historySide ??= new SessionHistory(this, this.socket, deps));
  }

  /** Subscribes the user's direct messages and, once that subscription is active, sends `welcome`. */
  async open() {
    const ready = this.deps.hub.addUser(this.ns, this.user);
    this.deps.expiry.add(this, this.token.claims.exp);
    await ready;
    this.reply({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      conn: this.conn,
      user: this.user,
      ns: this.ns,
      exp: this.token.claims.exp,
      limits: { maxFrameBytes: this.limits.maxFrameBytes, messagesPerSecond: this.limits.messagesPerSecond, burst: this.limits.burst, maxRooms: this.limits.maxRooms },
    });
  }

  /** Cleans up after the socket closed (for whatever reason). */
  async closedByTransport() {
    this.deps.expiry.remove(this, this.token.claims.exp);
    this.deps.hub.removeUser(this.ns, this.user);
    const rooms = [...this.rooms];
    this.rooms.clear();
    this.deps.onRoomsChanged(this);
    await Promise.all(rooms.map((room) => this.leaveRoom(room, false)));
  }

  close(reason: keyof typeof CLOSE_CODES, message: string) {
    this.socket.end(CLOSE_CODES[reason], message);
  }

  /** Called by the expiry wheel once the token's `exp` has passed. */
  expire() {
    this.close('token_expired', 'token expired; refresh it before exp');
  }

  async handleMessage(data: ArrayBuffer, isBinary: boolean): Promise<void> {
    this.deps.metrics.bytesIn.inc(data.byteLength);
    if (data.byteLength > this.limits.maxFrameBytes) {
      return this.violation('frame_too_large', `frame is ${data.byteLength} bytes; the limit is ${this.limits.maxFrameBytes}`);
    }
    if (isBinary) return this.handleBinary(new Uint8Array(data));
    let text: string;
    try {
      text = decoder.decode(data);
    } catch {
      return this.violation('bad_frame', 'frame is not valid UTF-8');
    }
    const decoded = decodeClientFrame(text);
    if (!decoded.ok) {
      this.deps.metrics.framesIn.labels('invalid').inc();
      return this.violation(decoded.error.code, decoded.error.message, decoded.id);
    }
    const frame = decoded.frame;
    this.deps.metrics.framesIn.labels(frame.type).inc();
    // Every frame but `ping` costs rate budget: a `refresh` costs a signature check, the most
    // expensive thing a client can ask of a gateway. Ephemeral publishes have their own bucket.
    const ephemeral = frame.type === 'publish' && frame.ephemeral === true;
    if (frame.type !== 'ping' && !(ephemeral ? this.ephemeralBucket : this.bucket).take() && !this.takeAfterStallCheck(ephemeral)) {
      (ephemeral ? this.deps.metrics.ephemeralRateLimited : this.deps.metrics.rateLimited).inc({ tenant: this.ns });
      this.error('rate_limited', frame.id);
      if (++this.refusedInARow >= this.deps.floodCloseAfter) this.close('rate_limited', 'message rate exceeded persistently');
      return;
    }
    this.refusedInARow = 0;
    try {
      await this.dispatch(frame);
    } catch (error) {
      // A refused refresh (bad signature, other user, revoked, expired) is a violation: a client
      // cannot make the gateway check signatures over and over for free.
      if (error instanceof ParleyError && frame.type === 'refresh') this.violation(error.code, error.message, frame.id);
      else if (error instanceof ParleyError) this.error(error.code, frame.id, 'room' in frame ? frame.room : undefined, error.message, error.retryAfterMs);
      else {
        this.deps.logger.error({ err: error, type: frame.type }, 'frame handling failed');
        this.error('internal', frame.id);
      }
    }
  }

  private dispatch(frame: ClientFrame): Promise<void> | void {
    switch (frame.type) {
      case 'join':
        return this.join(frame.room, frame.id, frame.since);
      case 'leave':
        return this.leave(frame.room, frame.id);
      case 'publish':
        if (frame.ephemeral) return this.publishEphemeral(frame.room, frame.data, frame.id);
        return this.publish(frame.room, frame.data, frame.id, frame.pid);
      case 'direct':
        return this.direct(frame.to, frame.data, frame.id);
      case 'presence':
        return this.presenceQuery(frame.room, frame.id);
      case 'refresh':
        return this.refresh(frame.token, frame.id);
      case 'ping':
        return this.reply({ type: 'pong', ...(frame.id !== undefined && { id: frame.id }) });
      case 'history':
        return this.historyQuery(frame.room, frame.after, frame.limit, frame.id, frame.before);
      case 'kick':
      case 'ban':
      case 'unban':
      case 'mute':
      case 'unmute':
      case 'invite':
      case 'uninvite':
      case 'delete':
      case 'settings':
        return this.deps.moderation.handle(this, frame, (reply) => this.reply(reply));
    }
  }

  /**
   * A binary frame (docs/protocol.md, "Binary frames"): for holders of `binary` on the room, sent
   * to the room's members that hold it too, under the same rate limit and moderation as a publish.
   * Anything else is a violation, as binary frames always were.
   */
  private async handleBinary(bytes: Uint8Array) {
    const frame = decodeClientBinaryFrame(bytes);
    if (!frame || !this.token.grants.allows(frame.room, 'binary') || !this.token.grants.allows(frame.room, 'publish')) {
      this.deps.metrics.framesIn.labels('invalid').inc();
      return this.violation('binary_unsupported', frame ? 'sending binary frames needs "binary" and "publish" on the room' : undefined);
    }
    this.deps.metrics.framesIn.labels('binary').inc();
    if (!this.bucket.take() && !this.takeAfterStallCheck(false)) {
      this.deps.metrics.rateLimited.inc({ tenant: this.ns });
      this.error('rate_limited', undefined, frame.room);
      if (++this.refusedInARow >= this.deps.floodCloseAfter) this.close('rate_limited', 'message rate exceeded persistently');
      return;
    }
    this.refusedInARow = 0;
    try {
      const check = this.deps.moderation.checkPublish(this, frame.room, 'binary');
      if (check) await check;
      await this.deps.bus.publish(subjects.presence(this.ns, frame.room), encodeMemberBinaryFrame(frame.room, this.user, frame.payload), { [HEADER_ORIGIN]: this.deps.gatewayId });
      this.deps.metrics.published.labels(this.ns, 'binary').inc();
    } catch (error) {
      if (error instanceof ParleyError) this.error(error.code, undefined, frame.room, error.message, error.retryAfterMs);
      else {
        this.deps.logger.error({ err: error }, 'binary frame handling failed');
        this.error('internal', undefined, frame.room);
      }
    }
  }

  private require(room: string, capability: 'subscribe' | 'publish' | 'presence' | 'history') {
    if (!this.token.grants.allows(room, capability)) throw new ParleyError('forbidden', `the token does not grant "${capability}" on this room`);
  }

  /** Joins a room; `since` (resume) is honoured for tenants with history and ignored otherwise. */
  private async join(room: string, id: RequestId | undefined, since: number | undefined) {
    this.require(room, 'subscribe');
    if (this.rooms.has(room)) throw new ParleyError('already_joined');
    if (this.rooms.size >= this.limits.maxRooms) throw new ParleyError('too_many_rooms', `at most ${this.limits.maxRooms} rooms per connection`);
    await this.deps.moderation.admitJoin(this, room);
    if (this.closed) return;
    // Joins are handled concurrently: what was checked before the wait is checked again.
    this.require(room, 'subscribe');
    if (this.rooms.has(room)) throw new ParleyError('already_joined');
    if (this.rooms.size >= this.limits.maxRooms) throw new ParleyError('too_many_rooms', `at most ${this.limits.maxRooms} rooms per connection`);
    this.deps.moderation.hold(this.ns, room);
    const history = this.history;
    if (history) return this.joinHistory(history, room, id, since);
    const topics = this.deps.hub.roomTopics(this.ns, room);
    this.rooms.add(room);
    // `joined` promises every message published after it: wait until the bus has the subscription.
    const subscribed = this.deps.hub.joinRoom(this.ns, room);
    this.deps.onRoomsChanged(this);
    await subscribed;
    if (this.closed || !this.rooms.has(room)) return;
    // `joined` also promises that presence queries list this connection.
    const first = await this.recordPresence(room, 'join');
    if (!this.closed && this.rooms.has(room)) {
      this.socket.subscribe(topics.messages);
      if (this.token.grants.allows(room, 'presence')) this.socket.subscribe(topics.presence);
      if (this.token.grants.allows(room, 'binary')) this.socket.subscribe(topics.binary);
      this.reply({ type: 'joined', room, ...(id !== undefined && { id }) });
      this.deps.events.joined?.(this, room);
    }
    // Even when it left meanwhile: its leave is published after this join, never before.
    if (first.forUser) await this.publishPresenceEvent(room, 'join', first);
  }

  private async joinHistory(history: SessionHistory, room: string, id: RequestId | undefined, since: number | undefined) {
    this.rooms.add(room);
    (this.historyRooms ??= new Set()).add(room);
    this.deps.hub.joinPresence(this.ns, room);
    const topics = this.deps.hub.roomTopics(this.ns, room);
    if (this.token.grants.allows(room, 'presence')) this.socket.subscribe(topics.presence);
    if (this.token.grants.allows(room, 'binary')) this.socket.subscribe(topics.binary);
    this.deps.onRoomsChanged(this);
    let outcome: HistoryJoinOutcome;
    try {
      outcome = await history.join(room, since, id);
    } catch (error) {
      this.detach(room, true);
      throw error;
    }
    if (outcome === 'joined') {
      this.deps.events.joined?.(this, room);
      await this.announce(room, 'join');
    }
    if (outcome === 'lost') {
      // `joined` already answered the request: the client learns it from an error for the room.
      this.detach(room, true);
      this.error('history_unavailable', undefined, room, 'the replay of this room failed after joined; join it again with your last seq');
    }
  }

  private async leave(room: string, id: RequestId | undefined) {
    if (!this.rooms.has(room)) throw new ParleyError('not_joined');
    await this.leaveRoom(room, true);
    this.reply({ type: 'ack', ...(id !== undefined && { id }) });
  }

  /** Leaves a room; `unsubscribe` is false when the socket is already gone. */
  async leaveRoom(room: string, unsubscribe: boolean) {
    if (!this.detach(room, unsubscribe)) return;
    this.deps.events.left?.(this, room);
    await this.announce(room, 'leave');
  }

  /** Drops the room's subscriptions and interest (no presence announcement); false if not joined. */
  private detach(room: string, unsubscribe: boolean): boolean {
    if (unsubscribe) {
      if (!this.rooms.delete(room)) return false;
      const topics = this.deps.hub.roomTopics(this.ns, room);
      this.socket.unsubscribe(topics.messages);
      this.socket.unsubscribe(topics.presence);
      this.socket.unsubscribe(topics.binary);
      this.deps.onRoomsChanged(this);
    }
    this.deps.moderation.release(this.ns, room);
    if (this.historyRooms?.delete(room)) {
      this.historySide?.leave(room, unsubscribe);
      this.deps.hub.leavePresence(this.ns, room);
    } else this.deps.hub.leaveRoom(this.ns, room);
    return true;
  }

  /** Records presence and announces the first join / last leave of this user in the room. */
  private async announce(room: string, kind: 'join' | 'leave') {
    const decided = await this.recordPresence(room, kind);
    if (decided.forUser) await this.publishPresenceEvent(room, kind, decided);
  }

  /**
   * Adds or removes this connection's presence entry. `forUser`: it was the user's first join or
   * last leave in the room (an event to publish); `room`: also the room's first or last entry
   * (occupied, vacated); `tenant`: the user's first or last room (online, offline). A failure is
   * logged and counted: the heartbeat re-asserts entries.
   */
  private async recordPresence(room: string, kind: 'join' | 'leave'): Promise<PresenceTransitions & { forUser: boolean }> {
    const { presence, gatewayId, metrics, logger } = this.deps;
    const key = { ns: this.ns, room, user: this.user, conn: this.conn };
    try {
      if (kind === 'leave') {
        const removed = await presence.remove(key);
        return { forUser: removed.lastForUser, room: removed.lastForRoom, tenant: removed.lastForTenant };
      }
      const info = this.token.claims.info;
      const added = await presence.add({ ...key, gateway: gatewayId, ...(info && { info }) });
      return { forUser: added.firstForUser, room: added.firstForRoom, tenant: added.firstForTenant };
    } catch (error) {
      metrics.presenceErrors.inc({ op: kind });
      logger.warn({ err: error, ns: this.ns }, `presence ${kind} failed; the heartbeat will re-assert it`);
      return { forUser: false, room: false, tenant: false };
    }
  }

  /**
   * The heartbeat recreated this user's first entry in `room` after it had been swept (this
   * gateway was frozen past the TTL, and a leave went out): announce the join again.
   */
  announceRejoin(room: string, transitions: PresenceTransitions): Promise<void> {
    return this.rooms.has(room) ? this.publishPresenceEvent(room, 'join', transitions) : Promise.resolve();
  }

  /** The `presence.*` frame for the room's members, then the room's lifecycle events for tenant backends. */
  private async publishPresenceEvent(room: string, kind: 'join' | 'leave', transitions: PresenceTransitions) {
    const { bus, gatewayId, logger } = this.deps;
    const frame: ServerFrame =
      kind === 'join'
        ? { type: 'presence.join', room, user: this.user, ...(this.token.claims.info && { info: this.token.claims.info }) }
        : { type: 'presence.leave', room, user: this.user };
    const headers = { [HEADER_ORIGIN]: gatewayId };
    const events = kind === 'join' ? joinEvents(room, this.user, transitions) : leaveEvents(room, this.user, transitions);
    await Promise.all([
      bus.publish(subjects.presence(this.ns, room), new TextEncoder().encode(encodeServerFrame(frame)), headers),
      bus.publish(subjects.roomEvents(this.ns, room), encodeRoomEvents(events), headers),
    ]).catch((error: unknown) => {
      logger.warn({ err: error, ns: this.ns }, `presence.${kind} event not published`);
    });
  }

  /** A publish with a `pid` gets a `msgId` derived from it: the store (history) or `dedupe` drops a repeat. */
  private async publish(room: string, data: unknown, id: RequestId | undefined, pid: string | undefined) {
    this.require(room, 'publish');
    const check = this.deps.moderation.checkPublish(this, room, 'message', pid);
    if (check) await check;
    try {
      await this.publishChecked(room, data, id, pid);
    } catch (error) {
      this.deps.moderation.publishFailed(this, room);
      throw error;
    }
  }

  private async publishChecked(room: string, data: unknown, id: RequestId | undefined, pid: string | undefined) {
    const msgId = pid === undefined ? newId() : publishMsgId(this.user, pid);
    const history = this.history;
    if (history) {
      if (this.deps.bus.state !== 'connected') throw new ParleyError('unavailable');
      return history.publish(room, data, id, msgId);
    }
    if (pid !== undefined && this.deps.dedupe.seen(this.ns, msgId)) return this.acknowledge({ type: 'ack', msgId, ...(id !== undefined && { id }) });
    const ts = Date.now();
    const bytes = encodeRoomMessageFrame({ room, msgId, from: { user: this.user, conn: this.conn }, data, ts });
    try {
      await this.deps.bus.publish(subjects.room(this.ns, room), bytes, undefined, { msgId });
    } catch (error) {
      if (pid !== undefined) this.deps.dedupe.forget(this.ns, msgId);
      throw error;
    }
    this.deps.metrics.published.labels(this.ns, 'room').inc();
    this.acknowledge({ type: 'ack', msgId, ...(id !== undefined && { id }) });
    this.deps.events.published?.(this, { room, msgId, kind: 'room' });
  }

  /** Travels with the room's presence events: every gateway with members has that subscription, history or not. */
  private async publishEphemeral(room: string, data: unknown, id: RequestId | undefined) {
    this.require(room, 'publish');
    const check = this.deps.moderation.checkPublish(this, room, 'ephemeral');
    if (check) await check;
    const msgId = newId();
    const frame: ServerFrame = { type: 'message', room, msgId, from: { user: this.user, conn: this.conn }, data, ts: Date.now(), ephemeral: true };
    await this.deps.bus.publish(subjects.presence(this.ns, room), new TextEncoder().encode(encodeServerFrame(frame)), { [HEADER_ORIGIN]: this.deps.gatewayId });
    this.deps.metrics.published.labels(this.ns, 'ephemeral').inc();
    this.acknowledge({ type: 'ack', msgId, ...(id !== undefined && { id }) });
    this.deps.events.published?.(this, { room, msgId, kind: 'ephemeral' });
  }

  private async direct(to: string, data: unknown, id: RequestId | undefined) {
    if (!isUserId(to)) throw new ParleyError('invalid_user');
    const msgId = newId();
    const ts = Date.now();
    const bytes = encodeDirectFrame({ msgId, from: { user: this.user, conn: this.conn }, data, ts });
    await this.deps.bus.publish(subjects.user(this.ns, to), bytes, undefined, { msgId });
    this.deps.metrics.published.labels(this.ns, 'direct').inc();
    this.acknowledge({ type: 'ack', msgId, ...(id !== undefined && { id }) });
  }

  private async historyQuery(room: string, after: number | undefined, limit: number | undefined, id: RequestId | undefined, before?: number) {
    if (after !== undefined && before !== undefined) throw new ParleyError('bad_frame', 'history takes after or before, not both');
    this.require(room, 'history');
    if (!this.token.historyEnabled) throw new ParleyError('history_disabled');
    const check = this.deps.moderation.checkRead(this, room);
    if (check) await check;
    const history = this.history;
    if (!history) throw new ParleyError('history_unavailable', 'this gateway runs without a history store');
    await history.query(room, after, limit, id, before);
  }

  private async presenceQuery(room: string, id: RequestId | undefined) {
    this.require(room, 'presence');
    const check = this.deps.moderation.checkRead(this, room);
    if (check) await check;
    let members, count;
    try {
      [members, count] = await Promise.all([this.deps.presence.members(this.ns, room), this.deps.presence.count(this.ns, room)]);
    } catch (error) {
      this.deps.metrics.presenceErrors.inc({ op: 'query' });
      throw error instanceof ParleyError ? error : new ParleyError('presence_unavailable', undefined, { cause: error });
    }
    this.reply({ type: 'presence', room, users: count.users, connections: count.connections, members, ...(id !== undefined && { id }) });
  }

  private async refresh(token: string, id: RequestId | undefined) {
    const next = await this.deps.verifyToken(token);
    if (next.claims.exp <= Date.now() / 1000) throw new ParleyError('token_expired');
    if (next.claims.ns !== this.ns || next.claims.sub !== this.user) throw new ParleyError('forbidden', 'a refreshed token must be for the same user and namespace');
    if (this.deps.isRevoked(next)) throw new ParleyError('token_revoked');
    if (this.closed) return;
    this.deps.expiry.remove(this, this.token.claims.exp);
    this.token = next;
    this.limits = this.deps.limitsOf(next);
    // The new token's limits apply from now, but what this connection spent stays spent: a
    // refresh must not refill the bucket (refreshing would otherwise lift the rate limit).
    const now = performance.now();
    this.bucket = new TokenBucket(this.limits.messagesPerSecond, this.limits.burst, now, this.bucket.available(now));
    this.deps.expiry.add(this, next.claims.exp);
    for (const room of [...this.rooms]) {
      if (!next.grants.allows(room, 'subscribe')) {
        await this.leaveRoom(room, true);
        this.error('forbidden', undefined, room, 'the refreshed token no longer grants this room; left it');
      } else this.resubscribe(room);
    }
    this.reply({ type: 'ack', ...(id !== undefined && { id }) });
  }

  /** The topics that follow the grants (presence events, binary frames), as the current token says. */
  private resubscribe(room: string) {
    const topics = this.deps.hub.roomTopics(this.ns, room);
    for (const [capability, topic] of [['presence', topics.presence], ['binary', topics.binary]] as const) {
      if (this.token.grants.allows(room, capability)) this.socket.subscribe(topic);
      else this.socket.unsubscribe(topic);
    }
  }

  private violation(code: ErrorCode, message?: string, id?: RequestId) {
    this.error(code, id, undefined, message);
    if (++this.violations >= this.deps.violationsCloseAfter) this.close('protocol_violation', 'too many invalid frames');
  }

  /** A direct message to this user, as serialized once by its sender. */
  deliver(bytes: Uint8Array) {
    this.socket.send(bytes);
  }

  reply(frame: ServerFrame) {
    if (this.socket.closed) return;
    this.socket.send(this.encodeOutgoing(frame));
  }

  /** The ack of a publish: batched with the other acks this socket gets in the same turn. */
  acknowledge(frame: ServerFrame & { type: 'ack' }) {
    if (this.socket.closed) return;
    this.socket.sendBatched(this.encodeOutgoing(frame));
  }

  published(room: string, msgId: string, seq: number) {
    this.deps.events.published?.(this, { room, msgId, seq, kind: 'room' });
  }

  private encodeOutgoing(frame: ServerFrame) {
    const text = encodeServerFrame(frame);
    this.deps.metrics.framesOut.labels(frame.type).inc();
    this.deps.metrics.bytesOut.inc(Buffer.byteLength(text));
    return text;
  }

  error(code: ErrorCode, id?: RequestId, room?: string, message?: string, retryAfterMs?: number) {
    this.deps.metrics.errors.inc({ code });
    this.reply({ type: 'error', ...errorBody(code, message, retryAfterMs), ...(id !== undefined && { id }), ...(room !== undefined && { room }) });
  }
}
