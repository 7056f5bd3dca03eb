import type { Bus } from '@parley/bus';
import { ParleyError, encodeControlMessage, encodeRoomEvents, subjects, type ModerationEvent, type RoomSettings } from '@parley/protocol';
import type { AuditAction, AuditEntry, ModerationChange, ModerationStore, RoomModeration, RoomRole, Until } from './moderation-store.ts';

/** Who acts: a connected user (a moderator by their token's `moderate` grant or a room role), or the tenant's backend. */
export type ModerationActor = { kind: 'user'; user: string; moderatorByGrant: boolean } | { kind: 'server' };

export const SERVER_ACTOR_ID = '$server';

export type ModerationRequest =
  | { action: 'kick'; user: string; reason?: string | undefined }
  | { action: 'ban'; user: string; seconds?: number | undefined; reason?: string | undefined }
  | { action: 'unban'; user: string }
  | { action: 'mute'; user: string; seconds?: number | undefined; reason?: string | undefined }
  | { action: 'unmute'; user: string }
  | { action: 'invite'; user: string }
  | { action: 'uninvite'; user: string }
  | { action: 'delete'; seq?: number | undefined; msgId?: string | undefined; reason?: string | undefined }
  | { action: 'settings'; settings: Partial<RoomSettings> }
  /** Server API only. */
  | { action: 'role'; user: string; role: RoomRole | null };

export interface ModeratorDeps {
  store: ModerationStore;
  bus: Bus;
  /**
   * Deletes a stored message of a tenant with history; false when the room has no message with
   * that seq. Absent where there is no history store.
   */
  deleteStored?: (ns: string, room: string, seq: number) => Promise<boolean>;
  /** Counts an applied action (`parley_…_moderation_actions_total{action}`). */
  counted?: (action: AuditAction) => void;
  now?: () => number;
}

export interface ModerationContext {
  /** The tenant keeps history: `delete` takes a `seq` and removes the stored message. */
  history: boolean;
  /** Events name the moderator and carry the reason (the tenant's `moderation.showModerators`). */
  showModerators: boolean;
}

/** What a user is in a room: a per-room role wins over a grant; `moderate` on a matching pattern makes a moderator. */
export function roleIn(state: RoomModeration, user: string, moderatorByGrant: boolean): RoomRole | 'member' {
  return state.roles.get(user) ?? (moderatorByGrant ? 'moderator' : 'member');
}

const RANK = { member: 0, moderator: 1, owner: 2, server: 3 } as const;

/**
 * Applies moderators' and the tenant backend's actions to a room: checks the actor may, stores the
 * change, writes the audit entry, tells every gateway (a `moderation` control message: they reload
 * the room and remove the user where the action says so), and tells the room's members (an event
 * published to the room, which tenants with history also store, so a resume replays it).
 */
export function createModerator(deps: ModeratorDeps) {
  const { store, bus } = deps;
  const now = deps.now ?? Date.now;

  const publish = async (subject: string, bytes: Uint8Array) => {
    try {
      await bus.publish(subject, bytes);
    } catch (error) {
      throw error instanceof ParleyError ? error : new ParleyError('unavailable', undefined, { cause: error });
    }
  };

  return {
    async act(ns: string, room: string, actor: ModerationActor, request: ModerationRequest, context: ModerationContext): Promise<{ settings?: RoomSettings; entry: AuditEntry }> {
      const state = await store.room(ns, room);
      const actorRank = actor.kind === 'server' ? RANK.server : RANK[roleIn(state, actor.user, actor.moderatorByGrant)];
      if (actorRank < RANK.moderator) throw new ParleyError('forbidden', 'only moderators of this room may do this');
      if (request.action === 'role' && actor.kind !== 'server') throw new ParleyError('forbidden', 'room roles are set through the server API');
      if ('user' in request) {
        // The target's rank as far as the room knows it (a token's grant is not known offline).
        const targetRank = RANK[state.roles.get(request.user) ?? 'member'];
        if (targetRank >= actorRank) throw new ParleyError('forbidden', `a ${actor.kind === 'server' ? 'server' : roleIn(state, actor.user, actor.moderatorByGrant)} cannot act on a room ${state.roles.get(request.user)}`);
      }
      const by = actor.kind === 'server' ? SERVER_ACTOR_ID : actor.user;
      const until = (seconds: number | undefined): Until => (seconds === undefined ? null : now() + seconds * 1000);
      let event: ModerationEvent | undefined;
      let change: ModerationChange | undefined;
      let remove: { user: string; why: 'kick' | 'ban' | 'uninvite'; reason?: string | undefined } | undefined;
      let details: Record<string, unknown> | undefined;
      let settings: RoomSettings | undefined;
      const shown = (reason: string | undefined) => (context.showModerators ? { by, ...(reason !== undefined && { reason }) } : {});

      switch (request.action) {
        case 'kick':
          event = { type: 'member.kicked', room, user: request.user, ...shown(request.reason) };
          remove = { user: request.user, why: 'kick', reason: request.reason };
          break;
        case 'ban': {
          const u = until(request.seconds);
          change = { kind: 'ban', user: request.user, until: u };
          event = { type: 'member.banned', room, user: request.user, ...(u !== null && { until: u }), ...shown(request.reason) };
          remove = { user: request.user, why: 'ban', reason: request.reason };
          details = { until: u };
          break;
        }
        case 'unban':
          change = { kind: 'unban', user: request.user };
          event = { type: 'member.unbanned', room, user: request.user, ...shown(undefined) };
          break;
        case 'mute': {
          const u = until(request.seconds);
          change = { kind: 'mute', user: request.user, until: u };
          event = { type: 'member.muted', room, user: request.user, ...(u !== null && { until: u }), ...shown(request.reason) };
          details = { until: u };
          break;
        }
        case 'unmute':
          change = { kind: 'unmute', user: request.user };
          event = { type: 'member.unmuted', room, user: request.user, ...shown(undefined) };
          break;
        case 'invite':
          change = { kind: 'invite', user: request.user };
          event = { type: 'member.invited', room, user: request.user, ...shown(undefined) };
          break;
        case 'uninvite':
          change = { kind: 'uninvite', user: request.user };
          event = { type: 'member.uninvited', room, user: request.user, ...shown(undefined) };
          if (state.settings.inviteOnly) remove = { user: request.user, why: 'uninvite' };
          break;
        case 'delete': {
          if (request.seq === undefined && context.history) throw new ParleyError('bad_frame', 'tenants with history delete by seq: the stored message is erased (msgId alone would only tell members)');
          if (request.seq !== undefined) {
            if (!context.history) throw new ParleyError('history_disabled', 'this tenant keeps no history: delete by msgId tells members to drop the message');
            if (!deps.deleteStored) throw new ParleyError('history_unavailable', 'no history store here to delete from');
            if (!(await deps.deleteStored(ns, room, request.seq))) throw new ParleyError('not_found', `room has no stored message with seq ${request.seq}`);
          }
          const deleted = { ...(request.seq !== undefined && { seq: request.seq }), ...(request.msgId !== undefined && { msgId: request.msgId }) };
          event = { type: 'message.deleted', room, deleted, ...shown(request.reason) };
          details = deleted;
          break;
        }
        case 'settings':
          change = { kind: 'settings', settings: request.settings };
          settings = { ...state.settings, ...request.settings };
          event = { type: 'room.settings', room, settings, ...shown(undefined) };
          details = { ...request.settings };
          break;
        case 'role':
          change = { kind: 'role', user: request.user, role: request.role };
          details = { role: request.role };
          break;
      }
      if (change) await store.apply(ns, room, change);

      // Once stored, the change is announced even if the audit entry could not be written (the caller still hears of that failure).
      const recorded = store
        .record(ns, {
          ts: now(),
          room,
          action: request.action,
          actor: by,
          ...('user' in request && { target: request.user }),
          ...('reason' in request && request.reason !== undefined && { reason: request.reason }),
          ...(details && { details }),
        })
        .then((entry) => ({ entry }), (error: unknown) => ({ error }));
      deps.counted?.(request.action);
      // The control message first: gateways apply the change before the members' event reaches them (one publisher, in order).
      const removal = remove && { remove: remove.user, why: remove.why, ...(remove.reason !== undefined && context.showModerators && { reason: remove.reason }) };
      await publish(subjects.control(ns), encodeControlMessage({ op: 'moderation', room, ...(change && { change }), ...removal }));
      if (event) await publish(subjects.room(ns, room), new TextEncoder().encode(JSON.stringify(event)));
      const audit = await recorded;
      if ('error' in audit) throw audit.error;
      const { entry } = audit;
      // The tenant's backend hears of it through webhooks (`moderation.action`), with everything the audit log keeps.
      const { id, action, actor: actorId, ts, target, reason, details: kept } = entry;
      await publish(
        subjects.roomEvents(ns, room),
        encodeRoomEvents([{ type: 'moderation.action', room, ...(target !== undefined && { user: target }), moderation: { id, action, actor: actorId, ts, ...(reason !== undefined && { reason }), ...(kept && { details: kept }) } }]),
      );
      return { entry, ...(settings && { settings }) };
    },
  };
}

export type Moderator = ReturnType<typeof createModerator>;
