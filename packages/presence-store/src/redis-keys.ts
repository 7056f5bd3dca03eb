/**
 * Redis key layout of the presence store (all under `prefix`, default `parley:presence:`).
 * User-supplied names (rooms, users) only ever appear base64url-encoded (`R`, `U` below), so no
 * name can forge a hash tag, a separator or another tenant's key.
 *
 *   {ns:R}:c        ZSET conn -> expiry (ms, Redis clock)        the room's connections
 *   {ns:R}:d        HASH conn -> "U|{json}"                       who, which gateway, user info
 *   {ns:R}:u        ZSET U -> latest expiry of the user's conns   live users: ZCOUNT (now, +inf)
 *   {ns:R}:l        ZSET (score 0) "U:conn"                       a user's conns: ZRANGEBYLEX
 *   {ns:u:U}:rooms  ZSET (score 0) R                              rooms where the user has entries;
 *                                                                 userRooms verifies each in {ns:R}:u
 *   {ns:u:U}:n      STRING count                                  rooms whose join and leave the room
 *                                                                 scripts decided: 0 -> 1 online, 1 -> 0 offline
 *   {ns}:rooms      ZSET R -> when the room next needs a sweep    the sweep's room index
 *   {ns}:users      ZSET U -> latest expiry                       per-tenant online users gauge
 *   {ns}:conns      ZSET conn -> latest expiry                    per-tenant connections gauge
 *   tenants         SET ns                                        tenants with presence
 *
 * The four keys of a room share the hash tag `{ns:R}`, so a room lives in one Redis Cluster slot
 * and every room operation is one atomic script. Cross-slot updates (indexes, tenant gauges) are
 * separate commands sent after the room script and are self-healing: every heartbeat rewrites them.
 */
import { subjectToken } from '@parley/protocol';

export const DEFAULT_PRESENCE_KEY_PREFIX = 'parley:presence:';

export interface RoomKeys {
  /** The four keys in script order: c, d, u, l. */
  readonly all: [string, string, string, string];
  readonly c: string;
  readonly d: string;
  readonly u: string;
  readonly l: string;
}

export interface PresenceKeys {
  room(ns: string, encodedRoom: string): RoomKeys;
  userRooms(ns: string, encodedUser: string): string;
  userRoomCount(ns: string, encodedUser: string): string;
  roomIndex(ns: string): string;
  tenantUsers(ns: string): string;
  tenantConns(ns: string): string;
  tenants(): string;
}

export const encodeName = subjectToken;

export function createPresenceKeys(prefix: string = DEFAULT_PRESENCE_KEY_PREFIX): PresenceKeys {
  // A brace in the prefix would become the hash tag and put every key in one slot (or split rooms).
  if (prefix.includes('{') || prefix.includes('}')) throw new Error('presence key prefix must not contain { or }');
  return {
    room(ns, encodedRoom) {
      const base = `${prefix}{${ns}:${encodedRoom}}:`;
      const c = `${base}c`;
      const d = `${base}d`;
      const u = `${base}u`;
      const l = `${base}l`;
      return { all: [c, d, u, l], c, d, u, l };
    },
    userRooms: (ns, encodedUser) => `${prefix}{${ns}:u:${encodedUser}}:rooms`,
    userRoomCount: (ns, encodedUser) => `${prefix}{${ns}:u:${encodedUser}}:n`,
    roomIndex: (ns) => `${prefix}{${ns}}:rooms`,
    tenantUsers: (ns) => `${prefix}{${ns}}:users`,
    tenantConns: (ns) => `${prefix}{${ns}}:conns`,
    tenants: () => `${prefix}tenants`,
  };
}
