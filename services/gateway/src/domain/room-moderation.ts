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

type ModerationFrame = Extract<ClientFrame, { type: 'kick' | 'ban' | 'unban' | 'mute' | 'unmute' | 'invite' | 'uninvite' | 'delete' | 'settings' }>;

interface CachedRoom {
  state: RoomModeration;
  /** Nobody is muted, the room is not read-only or in slow mode: a publish needs no check. */
  open: boolean;
  /** Local members: a held room stays cached. */
  holds: number;
  /** Slow mode: when each user last published here (through this gateway). */
  lastPublish: Map<string, number> | undefined;
  /** Loads started and applied: an older load never replaces a newer one. */
  loads: number;
  applied: number;
}

const isOpen = (state: RoomModeration) => state.mutes.size === 0 && !state.settings.readOnly && state.settings.slowModeSeconds === 0;

export interface RoomModerationDeps {
  store: ModerationStore;
  moderator: Moderator;
  presence: PresenceStore;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Whether this gateway has a history store (a `delete` by seq needs one). */
  hasHistory: boolean;
  maxCachedRooms?: number;
  now?: () => number;
}

/**
 * A gateway's side of moderation: the rooms' state as this gateway enforces it (loaded from the
 * store at each join, kept while the room has local members, reloaded when any gateway or the
 * server API changes it), the checks on joins and publishes, and the moderators' frames.
 * While the store is unreachable, what is cached is enforced and rooms not loaded are open.
 */
export function createRoomModeration(deps: RoomModerationDeps) {
  const { store, metrics, logger } = deps;
  const now = deps.now ?? Date.now;
  const maxCached = deps.maxCachedRooms ?? DEFAULT_MAX_CACHED_ROOMS;
  const tenants = new Map<string, Map<string, CachedRoom>>();
  let cachedCount = 0;
  let lastStoreWarning = 0;

  const cached = (ns: string, room: string) => tenants.get(ns)?.get(room);
  const updateGauge = () => metrics.moderationCachedRooms.set(cachedCount);

  const evictUnheld = () => {
    if (cachedCount <= maxCached) return;
    for (const [ns, rooms] of tenants) {
      for (const [room, entry] of rooms) {
        if (entry.holds > 0) continue;
        rooms.delete(room);
        cachedCount--;
        if (cachedCount <= maxCached) break;
      }
      if (rooms.size === 0) tenants.delete(ns);
      if (cachedCount <= maxCached) break;
    }
  };

  /** Loads the room's state from the store into the cache; undefined (and counted) when the store failed. */
  const load = async (ns: string, room: string): Promise<CachedRoom | undefined> => {
    let rooms = tenants.get(ns);
    let entry = rooms?.get(room);
    const ticket = entry ? ++entry.loads : 1;
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
    rooms = tenants.get(ns);
    entry = rooms?.get(room);
    if (!entry) {
      if (!rooms) tenants.set(ns, (rooms = new Map()));
      entry = { state, open: isOpen(state), holds: 0, lastPublish: undefined, loads: ticket, applied: ticket };
      rooms.set(room, entry);
      cachedCount++;
      evictUnheld();
      updateGauge();
    } else if (ticket >= entry.applied) {
      entry.state = state;
      entry.open = isOpen(state);
      entry.applied = ticket;
      if (state.settings.slowModeSeconds === 0) entry.lastPublish = undefined;
    }
    return entry;
  };

  const isModerator = (member: ModeratedMember, room: string, state: RoomModeration) => roleIn(state, member.user, member.token.grants.allows(room, 'moderate')) !== 'member';

  const refuse = (reason: ErrorCode, message?: string, retryAfterMs?: number): never => {
    metrics.moderationRefusals.inc({ reason });
    throw new ParleyError(reason, message, retryAfterMs !== undefined ? { retryAfterMs } : undefined);
  };

  const checkPublish = (member: ModeratedMember, room: string, entry: CachedRoom) => {
    const { state } = entry;
    const t = now();
    const muted = state.mutes.get(member.user);
    if (muted !== undefined && inForce(muted, t)) refuse('muted', undefined, muted === null ? undefined : muted - t);
    if (isModerator(member, room, state)) return;
    if (state.settings.readOnly) refuse('read_only');
    const interval = state.settings.slowModeSeconds * 1000;
    if (interval > 0) {
      const last = entry.lastPublish?.get(member.user);
      if (last !== undefined && t - last < interval) refuse('slow_mode', `one message every ${state.settings.slowModeSeconds} s in this room`, interval - (t - last));
      (entry.lastPublish ??= new Map()).set(member.user, t);
    }
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
     * Checks a join against the room's state, read from the store now (so a gateway started after
     * a ban enforces it): banned, invite-only, full. Moderators pass all but a ban.
     */
    async admitJoin(member: ModeratedMember, room: string): Promise<void> {
      const entry = await load(member.ns, room);
      if (!entry) return;
      const { state } = entry;
      const t = now();
      const banned = state.bans.get(member.user);
      if (banned !== undefined && inForce(banned, t)) refuse('banned', banned === null ? 'banned from this room' : `banned from this room until ${new Date(banned).toISOString()}`, banned === null ? undefined : banned - t);
      if (isModerator(member, room, state)) return;
      if (state.settings.inviteOnly && !state.invites.has(member.user)) refuse('invite_only');
      if (state.settings.maxMembers > 0) {
        const { users } = await deps.presence.count(member.ns, room).catch(() => ({ users: 0 }));
        if (users >= state.settings.maxMembers) refuse('room_full', `the room has its maximum of ${state.settings.maxMembers} members`);
      }
    },

    /** A local member joined: the room's state stays cached while it has any. */
    hold(ns: string, room: string) {
      const entry = cached(ns, room);
      if (entry) entry.holds++;
    },
    release(ns: string, room: string) {
      const entry = cached(ns, room);
      if (entry && entry.holds > 0) entry.holds--;
    },

    /**
     * Undefined when the publish may go on (the common case, answered from the cache without any
     * work); otherwise a promise that rejects with the reason (muted, read-only, slow mode) or
     * resolves once the state of a room this gateway had not loaded allows it.
     */
    checkPublish(member: ModeratedMember, room: string): Promise<void> | undefined {
      const entry = cached(member.ns, room);
      if (entry?.open) return undefined;
      if (entry) {
        checkPublish(member, room, entry);
        return undefined;
      }
      return load(member.ns, room).then((loaded) => {
        if (loaded && !loaded.open) checkPublish(member, room, loaded);
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
      if (entry) {
        // At once, before the members' event (published after this message) reaches them; then the store's full state.
        if (control.change) {
          applyModerationChange(entry.state, control.change);
          entry.open = isOpen(entry.state);
          entry.applied = ++entry.loads; // a read of the store begun before this change must not undo it
        }
        void load(ns, control.room);
      }
      if (!control.remove) return undefined;
      const why = control.reason !== undefined ? `: ${control.reason}` : '';
      if (control.why === 'ban') return { user: control.remove, code: 'banned', message: `banned from the room by a moderator${why}` };
      if (control.why === 'uninvite') return { user: control.remove, code: 'invite_only', message: 'no longer invited to this invite-only room' };
      return { user: control.remove, code: 'forbidden', message: `removed from the room by a moderator${why}` };
    },

    /** The bus came back: changes made meanwhile were not heard; reload every cached room. */
    reloadAll() {
      for (const [ns, rooms] of tenants) for (const room of rooms.keys()) void load(ns, room);
    },
  };
}

export type RoomModerationGuard = ReturnType<typeof createRoomModeration>;
