import { ParleyError, type PresenceMember } from '@parley/protocol';
import {
  DEFAULT_PRESENCE_TTL_MS,
  type PresenceConnection,
  type PresenceRejoin,
  type PresenceKey,
  type PresenceSweepResult,
  type PresenceStore,
  type PresenceTenantStats,
} from './presence-store.ts';

interface Entry {
  connection: PresenceConnection;
  expiresAt: number;
}

interface Room {
  ns: string;
  room: string;
  /** user -> conn -> entry (stored entries, live or expired-not-yet-swept). */
  users: Map<string, Map<string, Entry>>;
  /** conn -> user, to refuse a connection id reused by another user. */
  owners: Map<string, string>;
}

/**
 * In-process presence: the single-process default. It does not scale beyond one process.
 * Same semantics as the Redis store (see `PresenceStore`); `now` is injectable for tests.
 */
export function createMemoryPresenceStore(options: { ttlMs?: number; now?: () => number } = {}): PresenceStore {
  const ttl = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
  const now = options.now ?? Date.now;
  const rooms = new Map<string, Room>();
  // ns \u0000 user -> keys of the rooms where the user has stored entries
  const byUser = new Map<string, Set<string>>();
  const roomKey = (ns: string, room: string) => `${ns}\u0000${room}`;
  const userKey = (ns: string, user: string) => `${ns}\u0000${user}`;

  const liveCount = (conns: Map<string, Entry>, t: number) => {
    let n = 0;
    for (const e of conns.values()) if (e.expiresAt > t) n++;
    return n;
  };

  /** Drops the user's place in the room; true when it was the user's last room in the tenant. */
  const forgetUser = (r: Room, key: string, user: string): boolean => {
    r.users.delete(user);
    const set = byUser.get(userKey(r.ns, user));
    set?.delete(key);
    if (r.users.size === 0) rooms.delete(key);
    if (set?.size !== 0) return false;
    byUser.delete(userKey(r.ns, user));
    return true;
  };

  const put = (connection: PresenceConnection) => {
    const key = roomKey(connection.ns, connection.room);
    let r = rooms.get(key);
    const firstForRoom = !r;
    if (!r) rooms.set(key, (r = { ns: connection.ns, room: connection.room, users: new Map(), owners: new Map() }));
    const owner = r.owners.get(connection.conn);
    if (owner !== undefined && owner !== connection.user) throw new ParleyError('conflict', 'connection id already used by another user in this room');
    let conns = r.users.get(connection.user);
    const firstForUser = !conns || conns.size === 0;
    if (!conns) r.users.set(connection.user, (conns = new Map()));
    conns.set(connection.conn, { connection, expiresAt: now() + ttl });
    r.owners.set(connection.conn, connection.user);
    const uk = userKey(connection.ns, connection.user);
    let set = byUser.get(uk);
    if (!set) byUser.set(uk, (set = new Set()));
    const firstForTenant = set.size === 0;
    set.add(key);
    return { firstForUser, firstForRoom, firstForTenant: firstForUser && firstForTenant };
  };

  return {
    async add(connection) {
      return put(connection);
    },
    async remove({ ns, room, user, conn }: PresenceKey) {
      const key = roomKey(ns, room);
      const r = rooms.get(key);
      const conns = r?.users.get(user);
      if (!r || !conns || !conns.delete(conn)) return { lastForUser: false, lastForRoom: false, lastForTenant: false };
      r.owners.delete(conn);
      if (conns.size > 0) return { lastForUser: false, lastForRoom: false, lastForTenant: false };
      const lastForTenant = forgetUser(r, key, user);
      return { lastForUser: true, lastForRoom: !rooms.has(key), lastForTenant };
    },
    async members(ns, room) {
      const t = now();
      const members: PresenceMember[] = [];
      for (const [user, conns] of rooms.get(roomKey(ns, room))?.users ?? []) {
        let connections = 0;
        let info;
        for (const e of conns.values()) {
          if (e.expiresAt <= t) continue;
          connections++;
          info ??= e.connection.info;
        }
        if (connections > 0) members.push({ user, connections, ...(info !== undefined && { info }) });
      }
      return members;
    },
    async count(ns, room) {
      const t = now();
      let users = 0;
      let connections = 0;
      for (const conns of rooms.get(roomKey(ns, room))?.users.values() ?? []) {
        const live = liveCount(conns, t);
        if (live > 0) users++;
        connections += live;
      }
      return { users, connections };
    },
    async userRooms(ns, user) {
      const t = now();
      const result: string[] = [];
      for (const key of byUser.get(userKey(ns, user)) ?? []) {
        const r = rooms.get(key);
        const conns = r?.users.get(user);
        if (r && conns && liveCount(conns, t) > 0) result.push(r.room);
      }
      return result;
    },
    async heartbeat(connections) {
      const expiresAt = now() + ttl;
      const rejoins: PresenceRejoin[] = [];
      for (const c of connections) {
        const e = rooms.get(roomKey(c.ns, c.room))?.users.get(c.user)?.get(c.conn);
        if (e) {
          e.expiresAt = expiresAt;
          e.connection = c;
          continue;
        }
        try {
          const added = put(c);
          if (added.firstForUser) rejoins.push({ ns: c.ns, room: c.room, user: c.user, ...(added.firstForRoom && { firstForRoom: true }), ...(added.firstForTenant && { firstForTenant: true }) });
        } catch (error) {
          // A conflicting id is the caller's bug for that one entry; the others still beat.
          if (!(error instanceof ParleyError && error.code === 'conflict')) throw error;
        }
      }
      return rejoins;
    },
    async sweep() {
      const t = now();
      const leaves: PresenceSweepResult = [];
      let swept = 0;
      for (const [key, r] of rooms) {
        for (const [user, conns] of r.users) {
          let removed = false;
          for (const [conn, e] of conns) {
            if (e.expiresAt > t) continue;
            conns.delete(conn);
            r.owners.delete(conn);
            removed = true;
            swept++;
          }
          if (removed && conns.size === 0) {
            const lastForTenant = forgetUser(r, key, user);
            leaves.push({ ns: r.ns, room: r.room, user, ...(!rooms.has(key) && { lastForRoom: true }), ...(lastForTenant && { lastForTenant: true }) });
          }
        }
      }
      leaves.sweptConnections = swept;
      return leaves;
    },
    async stats() {
      const t = now();
      const perNs = new Map<string, { users: Set<string>; conns: Set<string> }>();
      for (const r of rooms.values()) {
        for (const [user, conns] of r.users) {
          for (const [conn, e] of conns) {
            if (e.expiresAt <= t) continue;
            let s = perNs.get(r.ns);
            if (!s) perNs.set(r.ns, (s = { users: new Set(), conns: new Set() }));
            s.users.add(user);
            s.conns.add(conn);
          }
        }
      }
      const result: PresenceTenantStats[] = [];
      for (const [ns, s] of perNs) result.push({ ns, users: s.users.size, connections: s.conns.size });
      return result;
    },
    async ping() {},
    async close() {
      rooms.clear();
      byUser.clear();
    },
  };
}
