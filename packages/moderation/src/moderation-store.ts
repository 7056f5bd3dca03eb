import type { ModerationChange, RoomSettings } from '@parley/protocol';

/**
 * The moderation port: per room, who is banned, muted, invited, and who holds a role, and the
 * room's settings; per tenant, the audit log of every action. Implementations: in memory (tests),
 * a file (one process, kept across restarts), Redis (every gateway and auth share it).
 */

/** A per-room role set through the server API; a token's `moderate` grant makes a moderator too. */
export type RoomRole = 'owner' | 'moderator';

/** Until when (milliseconds since the epoch); `null` is for ever. */
export type Until = number | null;

export interface RoomModeration {
  settings: RoomSettings;
  /** Only bans and mutes still in force (expired ones are left out). */
  bans: Map<string, Until>;
  mutes: Map<string, Until>;
  invites: Set<string>;
  roles: Map<string, RoomRole>;
}

/** One change to a room's state (the same shape travels in the `moderation` control message). */
export type { ModerationChange } from '@parley/protocol';

export const AUDIT_ACTIONS = ['kick', 'ban', 'unban', 'mute', 'unmute', 'invite', 'uninvite', 'role', 'settings', 'delete'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  /** Increasing within the tenant's log; pass it as `after` to read on. */
  id: string;
  /** Milliseconds since the epoch. */
  ts: number;
  room: string;
  action: AuditAction;
  /** The moderator's user id, or `$server` for the tenant's backend. */
  actor: string;
  target?: string;
  reason?: string;
  /** What the action set: `until`, a role, settings, a deleted message's seq or msgId. */
  details?: Record<string, unknown>;
}

/** @default 10000: audit entries kept per tenant; the oldest go first. */
export const DEFAULT_AUDIT_ENTRIES_PER_TENANT = 10_000;

export interface ModerationStore {
  readonly kind: 'memory' | 'file' | 'redis';
  /** The room's state now. Rejects with ParleyError `moderation_unavailable` when the backend is unreachable. */
  room(ns: string, room: string): Promise<RoomModeration>;
  apply(ns: string, room: string, change: ModerationChange): Promise<void>;
  record(ns: string, entry: Omit<AuditEntry, 'id'>): Promise<AuditEntry>;
  /** Oldest first: entries after `after` (an id), at most `limit`. */
  audit(ns: string, options: { after?: string; limit: number }): Promise<AuditEntry[]>;
  close(): Promise<void>;
}

export function emptyRoomModeration(settings: RoomSettings): RoomModeration {
  return { settings: { ...settings }, bans: new Map(), mutes: new Map(), invites: new Set(), roles: new Map() };
}

/** True when `until` is still ahead of `now`. */
export function inForce(until: Until | undefined, now: number): boolean {
  return until === null || (until !== undefined && until > now);
}

/** Applies a change to a room's state in place (the memory store's write, and a gateway's cached copy). */
export function applyModerationChange(state: RoomModeration, change: ModerationChange): void {
  switch (change.kind) {
    case 'ban':
      state.bans.set(change.user, change.until);
      return;
    case 'unban':
      state.bans.delete(change.user);
      return;
    case 'mute':
      state.mutes.set(change.user, change.until);
      return;
    case 'unmute':
      state.mutes.delete(change.user);
      return;
    case 'invite':
      state.invites.add(change.user);
      return;
    case 'uninvite':
      state.invites.delete(change.user);
      return;
    case 'role':
      if (change.role) state.roles.set(change.user, change.role);
      else state.roles.delete(change.user);
      return;
    case 'settings': {
      const defined = Object.fromEntries(Object.entries(change.settings).filter(([, value]) => value !== undefined));
      state.settings = { ...state.settings, ...defined };
      return;
    }
  }
}
