import type { Logger } from '@parley/observability';
import type { PresenceStore } from '@parley/presence-store';
import { ParleyError, type ClientFrame, type ControlMessage, type ErrorCode, type RequestId, type ServerFrame } from '@parley/protocol';
import { applyModerationChange, inForce, roleIn, type ModerationRequest, type ModerationStore, type Moderator, type RoomModeration } from '@parley/moderation';
import type { GatewayMetrics } from '../metrics.ts';
import type { VerifiedToken } from './token-verifier.ts';

/** @default 10000: rooms without local members whose moderation state a gateway keeps (for publishes from outside, and leave-and-rejoin). */
export const DEFAULT_MAX_CACHED_ROOMS = 10_000;

/** A connection as moderation sees it. */
export interface ModeratedMember {
  readonly ns: string;
  readonly user: string;
  readonly token: VerifiedToken;
  readonly rooms: ReadonlySet<string>;
}

/** What is published: a message, an ephemeral event (not counted by slow mode), a binary frame. */
export type PublishKind = 'message' | 'ephemeral' | 'binary';

type ModerationFrame = Extract<ClientFrame, { type: 'kick' | 'ban' | 'unban' | 'mute' | 'unmute' | 'invite' | 'uninvite' | 'delete' | 'settings' }>;

interface CachedRoom {
  readonly ns: string;
  readonly room: string;
  state: RoomModeration;
  /** Nobody is banned or muted, the room is not invite-only, read-only or in slow mode: a publish needs no check. */
  open: boolean;
  /** Local members: a held room stays cached. */
  holds: number;
  /** Slow mode: each user's last accepted message here (through this gateway), and its publish id. */
  slow: Map<string, { at: number; pid: string | undefined }> | undefined;
}

const isOpen = (state: RoomModeration) =>
  state.mutes.size === 0 && state.bans.size === 0 && !state.settings.inviteOnly && !state.settings.readOnly && state.settings.slowModeSeconds === 0;

/** Slow-mode entries a room keeps before the expired ones are swept. */
const SLOW_MODE_SWEEP_AT = 1024;

export interface RoomModerationDeps {
  store: ModerationStore;
  moderator: Moderator;
  presence: PresenceStore;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Whether this gateway has a history store (a `delete` by seq needs one). */
  hasHistory: boolean;
  /** Whether another local connection of the user is in the room (it is counted already: `maxMembers` lets it in). */
  isLocalMember(ns: string, user: string, room: string): boolean;
  maxCachedRooms?: number;
  now?: () => number;
}

/**
 * A gateway's side of moderation: the rooms' state as this gateway enforces it (read from the
 * store at the first join or publish, kept while the room has local members and for up to
 * `maxCachedRooms` others, changed at once by the `moderation` control messages of every change
 * and then read again), the checks on joins, publishes and reads, and the moderators' frames.
 * While the store is unreachable, what is cached is enforced and rooms not loaded are open.
 */
export function createRoomModeration(deps: RoomModerationDeps) {
  const { store, metrics, logger } = deps;
  const now = deps.now ?? Date.now;
  const maxCached = deps.maxCachedRooms ?? DEFAULT_MAX_CACHED_ROOMS;
  const tenants = new Map<string, Map<string, CachedRoom>>();
  /** Cached rooms without local members, least recently released first: the ones evicted. */
  const unheld = new Set<CachedRoom>();
  /** Reads of the store in flight, by room; `stale`: a change arrived meanwhile, read again. */
  const loading = new Map<string, { promise: Promise<CachedRoom | undefined>; stale: boolean }>();
  let cachedCount = 0;
  let lastStoreWarning = 0;

  const cached = (ns: string, room: string) => tenants.get(ns)?.get(room);
  const updateGauge = () => metrics.moderationCachedRooms.set(cachedCount);

  const evict = () => {
    for (const entry of unheld) {
      if (cachedCount <= maxCached) return;
      unheld.delete(entry);
      const rooms = tenants.get(entry.ns);
      rooms?.delete(entry.room);
      if (rooms?.size === 0) tenants.delete(entry.ns);
      cachedCount--;
    }
  };

  const install = (ns: string, room: string, state: RoomModeration): CachedRoom => {
    let entry = cached(ns, room);
    if (entry) {
      entry.state = state;
      entry.open = isOpen(state);
      if (state.settings.slowModeSeconds === 0) entry.slow = undefined;
      return entry;
    }
    let rooms = tenants.get(ns);
    if (!rooms) tenants.set(ns, (rooms = new Map()));
    entry = { ns, room, state, open: isOpen(state), holds: 0, slow: undefined };
    rooms.set(room, entry);
    unheld.add(entry);
    cachedCount++;
    evict();
    updateGauge();
    return entry;
  };

  /**
   * Reads the room's state from the store into the cache (one read per room at a time, shared);
   * the cached entry as it was (or undefined), counted, when the store failed.
   */
  const load = (ns: string, room: string): Promise<CachedRoom | undefined> => {
    const key = `${ns}\u0000${room}`;
    const inFlight = loading.get(key);
    if (inFlight) return inFlight.promise;
    const flight = { promise: undefined as unknown as Promise<CachedRoom | undefined>, stale: false };
    flight.promise = (async () => {
      try {
        for (;;) {
          let state: RoomModeration;
          try {
            state = await store.room(ns, room);
          } catch (error) {
            metrics.moderationStoreErrors.inc();
            if (now() - lastStoreWarning > 10_000) {
              lastStoreWarning = now();
              logger.warn({ err: error, ns }, 'moderation store unreachable: enforcing what this gateway has cached');
            }
            return cached(ns, room);
          }
          // A change was announced while this read was on its way: it may predate the change.
          if (flight.stale) {
            flight.stale = false;
            continue;
          }
          return install(ns, room, state);
        }
      } finally {
        loading.delete(key);
      }
    })();
    loading.set(key, flight);
    return flight.promise;
  };

  const reload = (ns: string, room: string) => {
    const inFlight = loading.get(`${ns}\u0000${room}`);
    if (inFlight) inFlight.stale = true;
    else if (cached(ns, room)) void load(ns, room);
  };

  const isModerator = (member: ModeratedMember, room: string, state: RoomModeration) => roleIn(state, member.user, member.token.grants.allows(room, 'moderate')) !== 'member';

  const refuse = (reason: ErrorCode, message?: string, retryAfterMs?: number): never => {
    metrics.moderationRefusals.inc({ reason });
    throw new ParleyError(reason, message, retryAfterMs !== undefined ? { retryAfterMs } : undefined);
  };

  /** Banned, or outside an invite-only room without an invitation: the room is closed to this connection, to read as to write. */
  const checkAccess = (member: ModeratedMember, room: string, state: RoomModeration, t: number): boolean => {
    const banned = state.bans.get(member.user);
    if (banned !== undefined && inForce(banned, t)) refuse('banned', banned === null ? 'banned from this room' : `banned from this room until ${new Date(banned).toISOString()}`, banned === null ? undefined : banned - t);
    if (isModerator(member, room, state)) return true;
    // A connection admitted before the room turned invite-only stays (uninvite or kick removes it).
    if (state.settings.inviteOnly && !state.invites.has(member.user) && !member.rooms.has(room)) refuse('invite_only');
    return false;
  };

  const checkPublish = (member: ModeratedMember, room: string, entry: CachedRoom, kind: PublishKind, pid: string | undefined) => {
    const { state } = entry;
    const t = now();
    const muted = state.mutes.get(member.user);
    if (muted !== undefined && inForce(muted, t)) refuse('muted', undefined, muted === null ? undefined : muted - t);
    if (checkAccess(member, room, state, t)) return;
    if (state.settings.readOnly) refuse('read_only');
    const interval = state.settings.slowModeSeconds * 1000;
    if (interval === 0 || kind === 'ephemeral') return;
    const last = entry.slow?.get(member.user);
    // The same publish again (its ack was lost): the deduplication answers it.
    if (last && pid !== undefined && last.pid === pid) return;
    if (last && t - last.at < interval) refuse('slow_mode', `one message every ${state.settings.slowModeSeconds} s in this room`, interval - (t - last.at));
    const slow = (entry.slow ??= new Map());
    slow.set(member.user, { at: t, pid });
    if (slow.size > SLOW_MODE_SWEEP_AT) for (const [user, { at }] of slow) if (t - at >= interval) slow.delete(user);
  };

  const toRequest = (frame: ModerationFrame): ModerationRequest => {
    switch (frame.type) {
      case 'kick':
        return { action: 'kick', user: frame.user, reason: frame.reason };
      case 'ban':
        return { action: 'ban', user: frame.user, seconds: frame.seconds, reason: frame.reason };
      case 'mute':
        return { action: 'mute', user: frame.user, seconds: frame.seconds, reason: frame.reason };
      case 'unban':
      case 'unmute':
      case 'invite':
      case 'uninvite':
        return { action: frame.type, user: frame.user };
      case 'delete':
        return { action: 'delete', seq: frame.seq, msgId: frame.msgId, reason: frame.reason };
      case 'settings': {
        const { type: _type, id: _id, room: _room, ...settings } = frame;
        return { action: 'settings', settings };
      }
    }
  };

  return {
    /**
     * Checks a join against the room's state (read from the store if this gateway has not cached
     * it, so a gateway started after a ban enforces it): banned, invite-only, full. Moderators pass
     * all but a ban.
     */
    async admitJoin(member: ModeratedMember, room: string): Promise<void> {
      const entry = cached(member.ns, room) ?? (await load(member.ns, room));
      if (!entry) return;
      if (checkAccess(member, room, entry.state, now())) return;
      const { maxMembers } = entry.state.settings;
      if (maxMembers > 0 && !deps.isLocalMember(member.ns, member.user, room)) {
        const { users } = await deps.presence.count(member.ns, room).catch(() => ({ users: 0 }));
        if (users >= maxMembers) refuse('room_full', `the room has its maximum of ${maxMembers} members`);
        // A ban may have arrived while presence answered.
        checkAccess(member, room, entry.state, now());
      }
    },

    /** A local member joined: the room's state stays cached while it has any. */
    hold(ns: string, room: string) {
      const entry = cached(ns, room);
      if (!entry) return;
      entry.holds++;
      unheld.delete(entry);
    },
    release(ns: string, room: string) {
      const entry = cached(ns, room);
      if (!entry || entry.holds === 0) return;
      if (--entry.holds === 0) {
        unheld.add(entry);
        evict();
      }
    },

    /**
     * Undefined when the publish (a message, an ephemeral event, a binary frame) may go on: the
     * common case, answered from the cache with two map lookups. Otherwise it is checked (throws
     * with the reason: banned, muted, invite-only, read-only, slow mode), or a promise settles once
     * the state of a room this gateway had not loaded is read. `pid`: a repeat of the last message
     * passes slow mode (it is a retry).
     */
    checkPublish(member: ModeratedMember, room: string, kind: PublishKind, pid?: string): Promise<void> | undefined {
      const entry = cached(member.ns, room);
      if (entry?.open) return undefined;
      if (entry) {
        checkPublish(member, room, entry, kind, pid);
        return undefined;
      }
      return load(member.ns, room).then((loaded) => {
        if (loaded && !loaded.open) checkPublish(member, room, loaded, kind, pid);
      });
    },

    /** A message that passed slow mode was not published after all: its slot is given back. */
    publishFailed(member: ModeratedMember, room: string) {
      cached(member.ns, room)?.slow?.delete(member.user);
    },

    /** `history` and `presence` queries: a banned user, or an uninvited one in an invite-only room, reads nothing. */
    checkRead(member: ModeratedMember, room: string): Promise<void> | undefined {
      const entry = cached(member.ns, room);
      if (entry?.open) return undefined;
      if (entry) {
        checkAccess(member, room, entry.state, now());
        return undefined;
      }
      return load(member.ns, room).then((loaded) => {
        if (loaded && !loaded.open) checkAccess(member, room, loaded.state, now());
      });
    },

    /** A moderator's frame: applied through the moderator; answered with `ack` (or `settings`). */
    async handle(member: ModeratedMember, frame: ModerationFrame, reply: (frame: ServerFrame) => void): Promise<void> {
      const { room } = frame;
      if (!member.token.grants.allows(room, 'subscribe')) throw new ParleyError('forbidden', 'the token does not grant this room');
      const id: { id?: RequestId } = frame.id !== undefined ? { id: frame.id } : {};
      const request = toRequest(frame);
      if (request.action === 'settings' && Object.keys(request.settings).length === 0) {
        const entry = await load(member.ns, room);
        if (!entry) throw new ParleyError('moderation_unavailable');
        reply({ type: 'settings', room, settings: entry.state.settings, ...id });
        return;
      }
      const result = await deps.moderator.act(member.ns, room, { kind: 'user', user: member.user, moderatorByGrant: member.token.grants.allows(room, 'moderate') }, request, {
        history: member.token.historyEnabled && deps.hasHistory,
        showModerators: member.token.showModerators,
      });
      metrics.moderationActions.inc({ action: request.action });
      if (result.settings) reply({ type: 'settings', room, settings: result.settings, ...id });
      else reply({ type: 'ack', ...id });
    },

    /**
     * A `moderation` control message: reload the room if cached here, and return who must leave it
     * (with the error code they are told).
     */
    changed(ns: string, control: Extract<ControlMessage, { op: 'moderation' }>): { user: string; code: ErrorCode; message: string } | undefined {
      const entry = cached(ns, control.room);
      // At once, before the members' event (published after this message) reaches them; then the store's full state.
      if (entry && control.change) {
        applyModerationChange(entry.state, control.change);
        entry.open = isOpen(entry.state);
      }
      reload(ns, control.room);
      if (!control.remove) return undefined;
      const why = control.reason !== undefined ? `: ${control.reason}` : '';
      if (control.why === 'ban') return { user: control.remove, code: 'banned', message: `banned from the room by a moderator${why}` };
      if (control.why === 'uninvite') return { user: control.remove, code: 'invite_only', message: 'no longer invited to this invite-only room' };
      return { user: control.remove, code: 'forbidden', message: `removed from the room by a moderator${why}` };
    },

    /** The bus came back: changes made meanwhile were not heard; reload every cached room. */
    reloadAll() {
      for (const [ns, rooms] of tenants) for (const room of rooms.keys()) reload(ns, room);
    },
  };
}

export type RoomModerationGuard = ReturnType<typeof createRoomModeration>;
