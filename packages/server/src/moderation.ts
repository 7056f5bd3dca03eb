import type { Client } from 'openapi-fetch';
import { unwrap } from './errors.ts';
import type { components, paths } from './generated/auth-api.ts';

export type RoomModeration = components['schemas']['RoomModeration'];
export type RoomSettings = components['schemas']['RoomSettings'];
export type RoomSettingsPatch = components['schemas']['RoomSettingsPatch'];
export type AuditEntry = components['schemas']['AuditEntry'];
export type AuditPage = components['schemas']['AuditPage'];
export type RoomRole = components['schemas']['RoomRoleRequest']['role'];

/** How long a ban or mute lasts (absent: until lifted) and why; the reason is shown to members unless the tenant hides moderators. */
export interface TimedModerationOptions {
  seconds?: number;
  reason?: string;
}

/** Which message to delete: `seq` removes the stored message (tenants with history), `msgId` tells members to drop it. */
export type DeleteMessageRequest = { seq: number; msgId?: string; reason?: string } | { seq?: number; msgId: string; reason?: string };

/**
 * Room moderation as the tenant's backend (or the operator): every action is stored, written to
 * the tenant's audit log as `$server`, takes effect on every gateway and is announced to the
 * room's members. Each resolves with its audit entry.
 */
export interface ParleyModeration {
  /** Removes a user from a room on every gateway (they may join again: `ban` keeps them out). Members get `member.kicked`. */
  kick(room: string, user: string, reason?: string): Promise<void>;
  /** A room's settings, the bans and mutes in force, its invited users and per-room roles. */
  roomModeration(room: string): Promise<RoomModeration>;
  /** Changes the given settings (`inviteOnly`, `readOnly`, `slowModeSeconds`, `maxMembers`); resolves with all of them. */
  updateRoomSettings(room: string, patch: RoomSettingsPatch): Promise<{ settings: RoomSettings; entry: AuditEntry }>;
  /** Removes the user from the room on every gateway and keeps them out until the ban ends or is lifted. */
  ban(room: string, user: string, options?: TimedModerationOptions): Promise<AuditEntry>;
  unban(room: string, user: string): Promise<AuditEntry>;
  /** The user stays in the room but cannot publish until the mute ends or is lifted. */
  mute(room: string, user: string, options?: TimedModerationOptions): Promise<AuditEntry>;
  unmute(room: string, user: string): Promise<AuditEntry>;
  /** Lets the user join an invite-only room. */
  invite(room: string, user: string): Promise<AuditEntry>;
  /** Withdraws an invitation; in an invite-only room the user also leaves it. */
  uninvite(room: string, user: string): Promise<AuditEntry>;
  /** Makes the user an owner or moderator of the room; `null` removes their role. */
  setRole(room: string, user: string, role: RoomRole | null): Promise<AuditEntry>;
  deleteMessage(room: string, request: DeleteMessageRequest): Promise<AuditEntry>;
  /** The tenant's audit log, oldest first: pass `next` as `after` to read on. */
  auditLog(options?: { after?: string; limit?: number }): Promise<AuditPage>;
}

const timed = (user: string, options: TimedModerationOptions = {}) => ({ user, ...options });

/** The moderation methods of `createParleyServer`, over the tenant's API-key routes. */
export function tenantModeration(auth: Client<paths>): ParleyModeration {
  const at = (room: string) => ({ params: { path: { room } } });
  const atUser = (room: string, user: string) => ({ params: { path: { room, user } } });
  return {
    kick: async (room, user, reason) => void unwrap(await auth.POST('/v1/rooms/{room}/kick', { ...at(room), body: { user, ...(reason !== undefined && { reason }) } })),
    roomModeration: async (room) => unwrap(await auth.GET('/v1/rooms/{room}/moderation', at(room))),
    updateRoomSettings: async (room, body) => unwrap(await auth.PATCH('/v1/rooms/{room}/settings', { ...at(room), body })),
    ban: async (room, user, options) => unwrap(await auth.POST('/v1/rooms/{room}/bans', { ...at(room), body: timed(user, options) })).entry,
    unban: async (room, user) => unwrap(await auth.DELETE('/v1/rooms/{room}/bans/{user}', atUser(room, user))).entry,
    mute: async (room, user, options) => unwrap(await auth.POST('/v1/rooms/{room}/mutes', { ...at(room), body: timed(user, options) })).entry,
    unmute: async (room, user) => unwrap(await auth.DELETE('/v1/rooms/{room}/mutes/{user}', atUser(room, user))).entry,
    invite: async (room, user) => unwrap(await auth.PUT('/v1/rooms/{room}/invites/{user}', atUser(room, user))).entry,
    uninvite: async (room, user) => unwrap(await auth.DELETE('/v1/rooms/{room}/invites/{user}', atUser(room, user))).entry,
    setRole: async (room, user, role) =>
      unwrap(role === null ? await auth.DELETE('/v1/rooms/{room}/roles/{user}', atUser(room, user)) : await auth.PUT('/v1/rooms/{room}/roles/{user}', { ...atUser(room, user), body: { role } })).entry,
    deleteMessage: async (room, body) => unwrap(await auth.POST('/v1/rooms/{room}/messages/delete', { ...at(room), body })).entry,
    auditLog: async (query = {}) => unwrap(await auth.GET('/v1/moderation/audit', { params: { query } })),
  };
}

/** The same for the operator, on any tenant's rooms (admin-token routes under `/v1/admin/tenants/{ns}`). */
export function adminModeration(api: Client<paths>, ns: string): ParleyModeration {
  const at = (room: string) => ({ params: { path: { ns, room } } });
  const atUser = (room: string, user: string) => ({ params: { path: { ns, room, user } } });
  return {
    kick: async (room, user, reason) => void unwrap(await api.POST('/v1/admin/tenants/{ns}/rooms/{room}/kick', { ...at(room), body: { user, ...(reason !== undefined && { reason }) } })),
    roomModeration: async (room) => unwrap(await api.GET('/v1/admin/tenants/{ns}/rooms/{room}/moderation', at(room))),
    updateRoomSettings: async (room, body) => unwrap(await api.PATCH('/v1/admin/tenants/{ns}/rooms/{room}/settings', { ...at(room), body })),
    ban: async (room, user, options) => unwrap(await api.POST('/v1/admin/tenants/{ns}/rooms/{room}/bans', { ...at(room), body: timed(user, options) })).entry,
    unban: async (room, user) => unwrap(await api.DELETE('/v1/admin/tenants/{ns}/rooms/{room}/bans/{user}', atUser(room, user))).entry,
    mute: async (room, user, options) => unwrap(await api.POST('/v1/admin/tenants/{ns}/rooms/{room}/mutes', { ...at(room), body: timed(user, options) })).entry,
    unmute: async (room, user) => unwrap(await api.DELETE('/v1/admin/tenants/{ns}/rooms/{room}/mutes/{user}', atUser(room, user))).entry,
    invite: async (room, user) => unwrap(await api.PUT('/v1/admin/tenants/{ns}/rooms/{room}/invites/{user}', atUser(room, user))).entry,
    uninvite: async (room, user) => unwrap(await api.DELETE('/v1/admin/tenants/{ns}/rooms/{room}/invites/{user}', atUser(room, user))).entry,
    setRole: async (room, user, role) =>
      unwrap(
        role === null
          ? await api.DELETE('/v1/admin/tenants/{ns}/rooms/{room}/roles/{user}', atUser(room, user))
          : await api.PUT('/v1/admin/tenants/{ns}/rooms/{room}/roles/{user}', { ...atUser(room, user), body: { role } }),
      ).entry,
    deleteMessage: async (room, body) => unwrap(await api.POST('/v1/admin/tenants/{ns}/rooms/{room}/messages/delete', { ...at(room), body })).entry,
    auditLog: async (query = {}) => unwrap(await api.GET('/v1/admin/tenants/{ns}/moderation/audit', { params: { path: { ns }, query } })),
  };
}
