import type { PresenceMember, UserInfo } from '@parley/protocol';

/** One connection of one user in one room, as held by one gateway. */
export interface PresenceConnection {
  ns: string;
  room: string;
  user: string;
  conn: string;
  gateway: string;
  info?: UserInfo;
}

export type PresenceKey = Pick<PresenceConnection, 'ns' | 'room' | 'user' | 'conn'>;

/** A user whose last connection left a room (the sweep's result: these need a leave event). */
export interface PresenceLeave {
  ns: string;
  room: string;
  user: string;
}

/**
 * The presence port. Entries live until removed or until they expire `ttlMs` after the last
 * `add`/`heartbeat` of their gateway; an expired entry counts as gone for every query, and
 * `sweep` deletes it and reports the leaves it causes. Queries are per user: a user with three
 * connections in a room is one member with `connections: 3`.
 */
export interface PresenceStore {
  /** Records a connection. `firstForUser` is true when the user had no other live connection there. */
  add(connection: PresenceConnection): Promise<{ firstForUser: boolean }>;
  /** Removes a connection. `lastForUser` is true when it was the user's last live one there. */
  remove(key: PresenceKey): Promise<{ lastForUser: boolean }>;
  /** Members of a room, one per user, in no particular order. */
  members(ns: string, room: string): Promise<PresenceMember[]>;
  /** Counts without listing members: cheap for large rooms. */
  count(ns: string, room: string): Promise<{ users: number; connections: number }>;
  /** Rooms where the user has at least one live connection. */
  userRooms(ns: string, user: string): Promise<string[]>;
  /** Extends the expiry of all these connections (one batched call per gateway per beat). */
  heartbeat(connections: readonly PresenceConnection[]): Promise<void>;
  /** Deletes expired entries; returns the users whose last connection in a room expired. */
  sweep(): Promise<PresenceLeave[]>;
  close(): Promise<void>;
}

/** @default 15 s: an entry not refreshed for this long is gone (the convergence bound after a gateway dies). */
export const DEFAULT_PRESENCE_TTL_MS = 15_000;
