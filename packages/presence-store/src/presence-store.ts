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
  /** This leave emptied the room: nobody has an entry there any more (a `room.vacated` to announce). */
  lastForRoom?: boolean;
  /** It was the user's last room in the tenant (a `user.offline` to announce). */
  lastForTenant?: boolean;
}

/**
 * A user whose first entry in a room a heartbeat had to recreate: its entries had expired and
 * been swept (a leave was announced: its gateway was frozen past the TTL), or the store lost them
 * (Redis restarted empty). The owner announces a join again.
 */
export interface PresenceRejoin {
  ns: string;
  room: string;
  user: string;
  /** The room had no entry at all before this one (a `room.occupied` to announce). */
  firstForRoom?: boolean;
  /** The user had no room in the tenant before this one (a `user.online` to announce). */
  firstForTenant?: boolean;
}

/** The leaves of a sweep; `sweptConnections` counts the expired connection entries it deleted. */
export type PresenceSweepResult = PresenceLeave[] & { sweptConnections?: number };

/** Live users and connections of one tenant (for per-tenant gauges). */
export interface PresenceTenantStats {
  ns: string;
  /** Distinct users with at least one live connection in at least one room. */
  users: number;
  /** Distinct live connection ids in at least one room. */
  connections: number;
}

/**
 * The presence port. Entries live until removed or until they expire `ttlMs` after the last
 * `add`/`heartbeat` of their gateway; an expired entry counts as gone for every query, and
 * `sweep` deletes it and reports the leaves it causes. Queries are per user: a user with three
 * connections in a room is one member with `connections: 3`.
 *
 * Join/leave decisions (`firstForUser`, `lastForUser`, the sweep's leaves) are taken on the
 * STORED entries of the user in the room, atomically: an expired entry that no sweep has deleted
 * yet still holds the user's place for events (it is invisible to queries). So for every
 * (room, user) the transitions "no entry -> some entry" and "some entry -> no entry" happen once
 * each and alternate: exactly one leave follows each join, whoever (gateway or sweeper) causes it,
 * and a user who reconnects before the sweep produces neither a leave nor a second join. The same
 * holds per room (`firstForRoom`, `lastForRoom`): occupied and vacated alternate, once each.
 * Per user and tenant (`firstForTenant`, `lastForTenant`: online, offline) the store counts the
 * rooms whose join and leave it decided; in Redis that count is a second atomic step after the
 * room's, so online and offline alternate per user as long as Redis answers both steps.
 * Connection ids must be unique per room across users: reusing one for another user is refused
 * with ParleyError('conflict'). Failures of the backing store reject with
 * ParleyError('presence_unavailable').
 */
export interface PresenceStore {
  /**
   * Records a connection. `firstForUser` is true when the user had no other entry in the room (a
   * join to announce); `firstForRoom` when nobody had (the room becomes occupied);
   * `firstForTenant` when this join is the user's first room in the tenant (the user comes online).
   */
  add(connection: PresenceConnection): Promise<{ firstForUser: boolean; firstForRoom: boolean; firstForTenant: boolean }>;
  /**
   * Removes a connection. `lastForUser` is true when it was the user's last entry in the room (a
   * leave to announce); false when the connection was not there (already removed or swept).
   * `lastForTenant` when that leave was the user's last room in the tenant (the user goes offline).
   */
  remove(key: PresenceKey): Promise<{ lastForUser: boolean; lastForRoom: boolean; lastForTenant: boolean }>;
  /** Members of a room, one per user, in no particular order. */
  members(ns: string, room: string): Promise<PresenceMember[]>;
  /** Counts without listing members: cheap for large rooms. */
  count(ns: string, room: string): Promise<{ users: number; connections: number }>;
  /** Rooms where the user has at least one live connection. */
  userRooms(ns: string, user: string): Promise<string[]>;
  /**
   * Extends the expiry of all these connections in one batch (one round trip per gateway per beat,
   * not one per connection) and (re)creates the ones that are missing, e.g. after a sweep removed
   * them or Redis restarted empty. Returns the users whose FIRST entry in a room it recreated
   * (the "no entry -> some entry" transition, each once, like `add`'s `firstForUser`): the caller
   * announces their join. Must not be issued for a connection after its `remove`.
   */
  heartbeat(connections: readonly PresenceConnection[]): Promise<PresenceRejoin[]>;
  /**
   * Deletes expired entries; returns the users whose last entry in a room expired, each leave
   * once even when several sweepers (processes) run at the same time.
   */
  sweep(): Promise<PresenceSweepResult>;
  /** Live users and connections per tenant, for tenants with any presence. Optional. */
  stats?(): Promise<PresenceTenantStats[]>;
  /** Resolves when the backing store answers (readiness). Optional. */
  ping?(): Promise<void>;
  close(): Promise<void>;
}

/** @default 15 s: an entry not refreshed for this long is gone (the convergence bound after a gateway dies). */
export const DEFAULT_PRESENCE_TTL_MS = 15_000;
