import type { PresenceMember } from '@parley/protocol';
import { DEFAULT_PRESENCE_TTL_MS, type PresenceConnection, type PresenceKey, type PresenceLeave, type PresenceStore } from './presence-store.ts';

interface Entry {
  connection: PresenceConnection;
  expiresAt: number;
}

/**
 * In-process presence: the single-process default. It does not scale beyond one process.
 * Rooms map users to their connections; expiry is checked on read and by `sweep`.
 */
export function createMemoryPresenceStore(options: { ttlMs?: number; now?: () => number } = {}): PresenceStore {
  const ttl = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
  const now = options.now ?? Date.now;
  // key: ns \u0000 room -> user -> conn -> entry
  const rooms = new Map<string, Map<string, Map<string, Entry>>>();
  const roomKey = (ns: string, room: string) => `${ns}\u0000${room}`;

  const liveConns = (conns: Map<string, Entry>, t: number) => {
    let n = 0;
    for (const e of conns.values()) if (e.expiresAt > t) n++;
    return n;
  };

  return {
    async add(connection) {
      const key = roomKey(connection.ns, connection.room);
      let users = rooms.get(key);
      if (!users) rooms.set(key, (users = new Map()));
      let conns = users.get(connection.user);
      if (!conns) users.set(connection.user, (conns = new Map()));
      const firstForUser = liveConns(conns, now()) === 0;
      conns.set(connection.conn, { connection, expiresAt: now() + ttl });
      return { firstForUser };
    },
    async remove({ ns, room, user, conn }: PresenceKey) {
      const users = rooms.get(roomKey(ns, room));
      const conns = users?.get(user);
      if (!users || !conns || !conns.delete(conn)) return { lastForUser: false };
      const lastForUser = liveConns(conns, now()) === 0;
      if (conns.size === 0) users.delete(user);
      if (users.size === 0) rooms.delete(roomKey(ns, room));
      return { lastForUser };
    },
    async members(ns, room) {
      const users = rooms.get(roomKey(ns, room));
      const t = now();
      const members: PresenceMember[] = [];
      for (const [user, conns] of users ?? []) {
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
      const users = rooms.get(roomKey(ns, room));
      const t = now();
      let u = 0;
      let c = 0;
      for (const conns of users?.values() ?? []) {
        const live = liveConns(conns, t);
        if (live > 0) u++;
        c += live;
      }
      return { users: u, connections: c };
    },
    async userRooms(ns, user) {
      const t = now();
      const result: string[] = [];
      for (const [key, users] of rooms) {
        const [keyNs, room] = key.split('\u0000') as [string, string];
        if (keyNs !== ns) continue;
        const conns = users.get(user);
        if (conns && liveConns(conns, t) > 0) result.push(room);
      }
      return result;
    },
    async heartbeat(connections) {
      const expiresAt = now() + ttl;
      for (const c of connections) {
        const e = rooms.get(roomKey(c.ns, c.room))?.get(c.user)?.get(c.conn);
        if (e) e.expiresAt = expiresAt;
        else await this.add(c);
      }
    },
    async sweep() {
      const t = now();
      const leaves: PresenceLeave[] = [];
      for (const [key, users] of rooms) {
        const [ns, room] = key.split('\u0000') as [string, string];
        for (const [user, conns] of users) {
          let removed = false;
          for (const [conn, e] of conns) if (e.expiresAt <= t) conns.delete(conn), (removed = true);
          if (conns.size === 0) {
            users.delete(user);
            if (removed) leaves.push({ ns, room, user });
          }
        }
        if (users.size === 0) rooms.delete(key);
      }
      return leaves;
    },
    async close() {
      rooms.clear();
    },
  };
}
