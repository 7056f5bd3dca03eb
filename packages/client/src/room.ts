import { Emitter } from './emitter.ts';
import { ParleyError } from './errors.ts';
import { MODERATION_EVENT_TYPES, type BinaryMessage, type HistoryPage, type Member, type ModerationEvent, type RoomMessage, type RoomSettings, type ServerFrame, type UserInfo } from './types.ts';

/** What a room needs from its client. */
export interface RoomHost {
  readonly connected: boolean;
  /** Sends a request and settles with its reply (rejects on an `error` reply or connection loss). */
  request(frame: Record<string, unknown>): Promise<ServerFrame>;
  publish(room: string, data: unknown, ephemeral: boolean): Promise<PublishAck>;
  /** Sends the publishes that waited for this room's join. */
  flush(room: string): void;
  /** Sends a binary frame now (WebSocket only); throws when it cannot. */
  sendBinary(bytes: Uint8Array): void;
}

export interface PublishAck {
  msgId: string;
  /** The stored message's `seq` (tenants with history). */
  seq?: number;
}

export interface RoomEvents {
  /** A room message, each once and (history tenants) in `seq` order, also across reconnects. */
  message: RoomMessage;
  /** An ephemeral event (typing indicator…): current members only, never stored, no `seq`. */
  ephemeral: RoomMessage;
  /** A user's first connection joined the room. */
  'member.join': Member;
  /** A user's last connection left the room. */
  'member.leave': Member;
  /** `room.members` changed. */
  members: ReadonlyMap<string, Member>;
  /** The room is joined on the current connection; `resumed` after a reconnect. */
  joined: { resumed: boolean; seq?: number };
  /**
   * History tenants: messages after `since` may be lost (`history_gap`). Do not trust the local
   * copy: `newest` is the newest page, loaded after the rejoin (it may overlap `message` events;
   * use `seq` to merge).
   */
  gap: { since: number | undefined; newest: HistoryPage | undefined };
  /** Tenants without history: messages published while disconnected were not delivered. */
  missed: { since: number };
  /** A join failed for good (forbidden, invalid room…); the room is no longer joined. */
  error: ParleyError;
  /** A moderator acted in the room (a ban, a deleted message, new settings…). */
  moderation: ModerationEvent;
  /**
   * The server removed this connection from the room: kicked (`forbidden`), banned (`banned`),
   * no longer invited (`invite_only`), or a refreshed token lost the grant. It is not rejoined.
   */
  removed: ParleyError;
  /** A binary frame from a member (for users holding `binary` on the room). */
  binary: BinaryMessage;
}

/** Errors without a request that mean the server took this connection out of the room. */
const REMOVALS = new Set(['forbidden', 'banned', 'invite_only']);

const RECENT_IDS = 512;
const GAP_PAGE = 50;

/**
 * One room as the application sees it: join intent that survives reconnects, the message
 * stream with resume bookkeeping (`lastSeq`), and the member list.
 */
export class Room extends Emitter<RoomEvents> {
  readonly name: string;
  private readonly host: RoomHost;
  private readonly memberMap = new Map<string, Member>();
  /** The highest `seq` delivered to the application (history tenants). */
  lastSeq: number | undefined;
  /** Joined on the current connection. */
  joined = false;
  private wanted = false;
  private joining = false;
  private wasJoined = false;
  private lostAt = 0;
  private gapSince: number | undefined | null = null;
  private waiters: Array<{ resolve(): void; reject(e: ParleyError): void }> = [];
  /** Presence events received while the snapshot is loading; null when none is loading. */
  private presenceBuffer: ServerFrame[] | null = null;
  /** Tenants without history: recent message ids, to drop a repeat. */
  private readonly recent = new Set<string>();

  constructor(name: string, host: RoomHost) {
    super();
    this.name = name;
    this.host = host;
  }

  /** Who is in the room: the presence snapshot at join, kept current by join and leave events. */
  get members(): ReadonlyMap<string, Member> {
    return this.memberMap;
  }

  /** Joins the room (again after every reconnect, until `leave`). Resolves once joined. */
  join(): Promise<void> {
    this.wanted = true;
    if (this.joined) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.sendJoin();
    return done;
  }

  /** Leaves the room; no more rejoins. */
  async leave(): Promise<void> {
    this.wanted = false;
    const wasJoined = this.joined;
    this.reset();
    this.lastSeq = undefined;
    this.wasJoined = false;
    this.failWaiters(new ParleyError('left', 'the room was left before it was joined', false));
    this.host.flush(this.name);
    if (wasJoined && this.host.connected) await this.host.request({ type: 'leave', room: this.name });
  }

  /** Publishes `data`; settles with the server's ack. Ephemeral events are not queued offline. */
  publish(data: unknown, options: { ephemeral?: boolean } = {}): Promise<PublishAck> {
    return this.host.publish(this.name, data, options.ephemeral === true);
  }

  /**
   * A page of stored messages, oldest first: by default the newest `limit`; with `before`, the
   * newest `limit` with a smaller `seq` (page backwards with `before` = the page's `first`); with
   * `after`, the first `limit` with a greater `seq` (page forwards with `after` = the page's `last`).
   */
  async history(options: { after?: number; before?: number; limit?: number } = {}): Promise<HistoryPage> {
    const reply = await this.host.request({ type: 'history', room: this.name, ...options });
    if (reply.type !== 'history') throw new ParleyError('bad_frame', 'unexpected reply', false);
    const { messages, first, last, more } = reply;
    return { messages, more, ...(first !== undefined && { first }), ...(last !== undefined && { last }) };
  }

  /** Sends a binary frame to the room's members that hold `binary` (WebSocket only; needs `binary` on the room). */
  sendBinary(data: Uint8Array): void {
    const room = new TextEncoder().encode(this.name);
    const frame = new Uint8Array(3 + room.length + data.length);
    frame[0] = 1;
    frame[1] = room.length >> 8;
    frame[2] = room.length & 0xff;
    frame.set(room, 3);
    frame.set(data, 3 + room.length);
    this.host.sendBinary(frame);
  }

  /** Moderators: removes `user`'s connections from the room; they may rejoin. */
  kick(user: string, options: { reason?: string } = {}): Promise<void> {
    return this.moderate({ type: 'kick', user, ...options });
  }

  /** Moderators: removes `user` and refuses their joins for `seconds` (absent: until `unban`). */
  ban(user: string, options: { seconds?: number; reason?: string } = {}): Promise<void> {
    return this.moderate({ type: 'ban', user, ...options });
  }

  unban(user: string): Promise<void> {
    return this.moderate({ type: 'unban', user });
  }

  /** Moderators: refuses `user`'s messages in the room for `seconds` (absent: until `unmute`). */
  mute(user: string, options: { seconds?: number; reason?: string } = {}): Promise<void> {
    return this.moderate({ type: 'mute', user, ...options });
  }

  unmute(user: string): Promise<void> {
    return this.moderate({ type: 'unmute', user });
  }

  /** Moderators: lets `user` join an invite-only room. */
  invite(user: string): Promise<void> {
    return this.moderate({ type: 'invite', user });
  }

  /** Moderators: takes the invitation back (and removes `user` from an invite-only room). */
  uninvite(user: string): Promise<void> {
    return this.moderate({ type: 'uninvite', user });
  }

  /** Moderators: deletes a message (by `seq`: erased from history; by `msgId`: members are told to drop it). */
  deleteMessage(message: { seq?: number; msgId?: string }, options: { reason?: string } = {}): Promise<void> {
    return this.moderate({ type: 'delete', ...message, ...options });
  }

  /** The room's settings; with `changes` (moderators), changes them first. */
  async settings(changes: Partial<RoomSettings> = {}): Promise<RoomSettings> {
    const reply = await this.host.request({ type: 'settings', room: this.name, ...changes });
    if (reply.type !== 'settings') throw new ParleyError('bad_frame', 'unexpected reply', false);
    return reply.settings;
  }

  private async moderate(frame: Record<string, unknown>): Promise<void> {
    await this.host.request({ ...frame, room: this.name });
  }

  /** @internal A binary frame for this room. */
  handleBinary(message: BinaryMessage): void {
    if (this.joined) this.emit('binary', message);
  }

  /** @internal Joining (or rejoining) and not joined yet: its publishes wait. */
  wantsJoin(): boolean {
    return this.wanted && !this.joined;
  }

  /** @internal The connection is up: rejoin if wanted. */
  connected(): void {
    if (this.wanted) this.sendJoin();
  }

  /** @internal The connection is gone. */
  disconnected(): void {
    if (this.joined) this.lostAt = Date.now();
    this.reset();
  }

  /** @internal Every frame for this room. */
  handle(frame: ServerFrame): void {
    switch (frame.type) {
      case 'joined':
        return this.onJoined(frame.seq);
      case 'message':
        return this.onMessage(frame);
      case 'presence.join':
      case 'presence.leave':
        if (this.presenceBuffer) this.presenceBuffer.push(frame);
        else this.applyPresence(frame);
        return;
      case 'error':
        if (frame.code === 'history_gap') this.gapSince = this.lastSeq;
        else if (frame.code === 'history_unavailable' && this.joined) this.droppedByServer();
        else if (REMOVALS.has(frame.code) && this.joined) this.removedByServer(ParleyError.fromFrame(frame));
        return;
      default:
        if (MODERATION_EVENT_TYPES.has(frame.type)) this.onModeration(frame as ModerationEvent);
    }
  }

  /** Stored events (history tenants) take part in the `seq` order, so a resume does not replay them. */
  private onModeration(event: ModerationEvent): void {
    if (!this.joined) return;
    if (event.seq !== undefined) {
      if (this.lastSeq !== undefined && event.seq <= this.lastSeq) return;
      this.lastSeq = event.seq;
    }
    this.emit('moderation', event);
  }

  private removedByServer(error: ParleyError): void {
    this.wanted = false;
    this.wasJoined = false;
    this.lastSeq = undefined;
    this.reset();
    this.emit('removed', error);
  }

  /** @internal The join request was refused. */
  joinFailed(error: ParleyError): void {
    this.joining = false;
    if (error.code === 'disconnected') return; // rejoined on the next connection
    if (error.temporary) {
      // history_unavailable, presence trouble…: the next connection (or a later try) rejoins.
      setTimeout(() => this.wanted && !this.joined && this.sendJoin(), 1000);
      return;
    }
    this.wanted = false;
    this.failWaiters(error);
    this.emit('error', error);
    this.host.flush(this.name); // publishes that waited for the join go out (and get their own answer)
  }

  /**
   * The gateway dropped the room after `joined` (its history feed stopped, or the replay of a
   * resume failed): publishes wait again, and the room is joined again with `since` = the last
   * `seq` received, so nothing is missed.
   */
  private droppedByServer(): void {
    this.joined = false;
    this.lostAt = Date.now();
    setTimeout(() => this.wanted && !this.joined && this.sendJoin(), 1000);
  }

  /** @internal The client stopped for good. */
  stopped(error: ParleyError): void {
    this.reset();
    this.failWaiters(error);
  }

  private sendJoin(): void {
    if (this.joining || this.joined || !this.host.connected) return;
    const since = this.wasJoined ? this.lastSeq : undefined;
    this.joining = true;
    // The `joined` frame itself reaches `handle` in order with the messages that follow it.
    this.host.request({ type: 'join', room: this.name, ...(since !== undefined && { since }) }).catch((error: ParleyError) => this.joinFailed(error));
  }

  private onJoined(seq: number | undefined): void {
    if (!this.wanted) {
      // Left while the join was on its way: leave on the server too.
      this.host.request({ type: 'leave', room: this.name }).catch(() => {});
      return;
    }
    const resumed = this.wasJoined;
    this.joining = false;
    this.joined = true;
    this.wasJoined = true;
    // On a resume `seq` is our `since`, or lower when the room's history was reset.
    if (seq !== undefined) this.lastSeq = seq;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
    this.emit('joined', { resumed, ...(seq !== undefined && { seq }) });
    if (resumed && seq === undefined) this.emit('missed', { since: this.lostAt });
    if (this.gapSince !== null) {
      const since = this.gapSince ?? undefined;
      this.gapSince = null;
      this.history({ limit: GAP_PAGE }).then(
        (newest) => this.emit('gap', { since, newest }),
        () => this.emit('gap', { since, newest: undefined }),
      );
    }
    this.loadMembers();
    this.host.flush(this.name);
  }

  private onMessage(message: RoomMessage & { type?: string }): void {
    if (!this.joined) return;
    const { type: _type, ...m } = message;
    if (m.ephemeral) return this.emit('ephemeral', m);
    if (m.seq !== undefined) {
      // Exactly once in order: the server promises it; this guards the seam of a resume too.
      if (this.lastSeq !== undefined && m.seq <= this.lastSeq) return;
      this.lastSeq = m.seq;
    } else {
      if (this.recent.has(m.msgId)) return;
      this.recent.add(m.msgId);
      if (this.recent.size > RECENT_IDS) this.recent.delete(this.recent.values().next().value as string);
    }
    this.emit('message', m);
  }

  private loadMembers(): void {
    this.presenceBuffer = [];
    this.host.request({ type: 'presence', room: this.name }).then(
      (reply) => {
        const buffered = this.presenceBuffer ?? [];
        this.presenceBuffer = null;
        if (reply.type !== 'presence' || !this.joined) return;
        this.memberMap.clear();
        for (const m of reply.members) this.memberMap.set(m.user, member(m.user, m.info));
        // Events that arrived meanwhile are newer than or equal to the snapshot: replaying them is safe.
        for (const f of buffered) this.applyPresence(f, false);
        this.emit('members', this.memberMap);
      },
      () => {
        // No presence grant, or presence is down: the list stays as events make it.
        const buffered = this.presenceBuffer ?? [];
        this.presenceBuffer = null;
        for (const f of buffered) this.applyPresence(f);
      },
    );
  }

  private applyPresence(frame: ServerFrame, notify = true): void {
    if (frame.type === 'presence.join') {
      const m = member(frame.user, frame.info);
      const isNew = !this.memberMap.has(m.user);
      this.memberMap.set(m.user, m);
      if (notify && isNew) {
        this.emit('member.join', m);
        this.emit('members', this.memberMap);
      }
    } else if (frame.type === 'presence.leave') {
      const m = this.memberMap.get(frame.user);
      if (!this.memberMap.delete(frame.user) || !notify || !m) return;
      this.emit('member.leave', m);
      this.emit('members', this.memberMap);
    }
  }

  private reset(): void {
    this.joined = false;
    this.joining = false;
    this.presenceBuffer = null;
  }

  private failWaiters(error: ParleyError): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(error);
  }
}

function member(user: string, info: UserInfo | undefined): Member {
  return info === undefined ? { user } : { user, info };
}
