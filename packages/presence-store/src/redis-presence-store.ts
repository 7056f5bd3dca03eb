import type { Cluster, Redis } from 'ioredis';
import { fromSubjectToken, isNamespace, ParleyError, type PresenceMember, type UserInfo } from '@parley/protocol';
import {
  DEFAULT_PRESENCE_TTL_MS,
  type PresenceConnection,
  type PresenceRejoin,
  type PresenceLeave,
  type PresenceStore,
  type PresenceSweepResult,
  type PresenceTenantStats,
} from './presence-store.ts';
import { createPresenceKeys, DEFAULT_PRESENCE_KEY_PREFIX, encodeName } from './redis-keys.ts';
import { createRedisRunner, type Cmd } from './redis-runner.ts';

/** @default 1 hour: how long keys outlive their last refresh if no sweeper runs at all (leak guard only). */
export const DEFAULT_PRESENCE_KEY_GRACE_MS = 3_600_000;
/** @default 200: rooms read from a tenant's sweep index per round. */
export const DEFAULT_SWEEP_ROOMS_PER_ROUND = 200;
/** @default 500: expired connections deleted per room per script call (bounds the script's run time). */
export const DEFAULT_SWEEP_CONNECTIONS_PER_CALL = 500;
/** @default 200: rounds per tenant per sweep; what is left waits for the next sweep. */
export const DEFAULT_SWEEP_MAX_ROUNDS = 200;
/** Rooms of one user that userRooms reads (a bound, far above any sane `maxRooms`). */
const MAX_USER_ROOMS = 10_000;
/** Connections per add script call (a heartbeat sends one call per room per chunk). */
const ADD_CHUNK = 250;

export interface RedisPresenceStoreOptions {
  /** How long an entry lives after its last add/heartbeat. Every store on one Redis must use the same. @default 15000 */
  ttlMs?: number;
  /** Prefix of every key; must not contain `{` or `}`. @default 'parley:presence:' */
  keyPrefix?: string;
  /** @default 3600000 */
  keyGraceMs?: number;
  /** How long a call waits for a connection that is not ready before failing. @default 500 */
  readyWaitMs?: number;
  /** Every Redis error (the calls reject with presence_unavailable); for logs and metrics. */
  onError?: (error: Error) => void;
  /** Leave the client open on `close()` (it is shared). @default false: the store closes it */
  keepClientOpen?: boolean;
}

interface StoredValue {
  user: string;
  gateway: string;
  info?: UserInfo;
}

/**
 * Presence in Redis (standalone, Sentinel or Cluster), crash-safe: entries carry an expiry that
 * the owning gateway refreshes; queries ignore expired entries; `sweep` deletes them atomically
 * per room and returns each resulting leave once, however many sweepers run. Key layout and
 * cluster notes: `redis-keys.ts`; scripts: `redis-scripts.ts`.
 *
 * The client should fail fast (`createPresenceRedisClient` sets `enableOfflineQueue: false` and
 * a `commandTimeout`): during an outage calls reject with ParleyError('presence_unavailable')
 * instead of queueing. After Redis comes back empty, the gateways' next `heartbeat` recreates
 * their entries. `close()` quits the client unless `keepClientOpen`.
 */
export function createRedisPresenceStore(redis: Redis | Cluster, options: RedisPresenceStoreOptions = {}): PresenceStore {
  const ttl = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
  const grace = options.keyGraceMs ?? DEFAULT_PRESENCE_KEY_GRACE_MS;
  const keys = createPresenceKeys(options.keyPrefix ?? DEFAULT_PRESENCE_KEY_PREFIX);
  const runner = createRedisRunner(redis, { readyWaitMs: options.readyWaitMs, onError: options.onError });
  const { run } = runner;
  /** One command, one reply. */
  const one = async (cmd: Cmd): Promise<unknown> => (await run([[cmd]]))[0]?.[0];

  const checkNs = (ns: string) => {
    // Used raw inside hash tags: only the validated namespace alphabet may get there.
    if (!isNamespace(ns)) throw new TypeError(`invalid namespace ${JSON.stringify(ns)}`);
  };

  /**
   * Writes (or refreshes) entries: one script call per room (chunked), then the cross-slot
   * indexes. Returns one code per connection, in order: 1 first for the user, 0 not, 2 refused.
   */
  const write = async (connections: readonly PresenceConnection[], eagerUserIndex: boolean): Promise<{ codes: number[]; firstForTenant: boolean[] }> => {
    const perRoom = new Map<string, { ns: string; R: string; at: number[]; args: string[] }>();
    const userRooms = new Map<string, { ns: string; user: string; rooms: Set<string> }>();
    const perNs = new Map<string, { rooms: Set<string>; users: Set<string>; conns: Set<string> }>();
    connections.forEach((c, i) => {
      checkNs(c.ns);
      const R = encodeName(c.room);
      const U = encodeName(c.user);
      const value: StoredValue = { user: c.user, gateway: c.gateway, ...(c.info !== undefined && { info: c.info }) };
      const rk = `${c.ns}\u0000${R}`;
      let room = perRoom.get(rk);
      if (!room) perRoom.set(rk, (room = { ns: c.ns, R, at: [], args: [] }));
      room.at.push(i);
      room.args.push(c.conn, U, `${U}|${JSON.stringify(value)}`);
      if (eagerUserIndex) {
        const uk = `${c.ns}\u0000${U}`;
        let ur = userRooms.get(uk);
        if (!ur) userRooms.set(uk, (ur = { ns: c.ns, user: U, rooms: new Set() }));
        ur.rooms.add(R);
      }
      let t = perNs.get(c.ns);
      if (!t) perNs.set(c.ns, (t = { rooms: new Set(), users: new Set(), conns: new Set() }));
      t.rooms.add(R);
      t.users.add(U);
      t.conns.add(c.conn);
    });
    const entries: Cmd[] = [];
    const slots: number[][] = [];
    for (const room of perRoom.values()) {
      const roomKeys = keys.room(room.ns, room.R).all;
      for (let i = 0; i < room.at.length; i += ADD_CHUNK) {
        entries.push(['parleyPresenceAdd', ...roomKeys, ttl, grace, ...room.args.slice(3 * i, 3 * (i + ADD_CHUNK))]);
        slots.push(room.at.slice(i, i + ADD_CHUNK));
      }
    }
    const indexes: Cmd[] = [];
    // userRooms is a membership index, verified against the rooms when read: an add writes it
    // in the same round trip; a heartbeat only for the entries it had to recreate (below).
    if (eagerUserIndex) for (const ur of userRooms.values()) indexes.push(['zadd', keys.userRooms(ur.ns, ur.user), ...[...ur.rooms].flatMap((R) => [0, R])]);
    for (const [ns, t] of perNs) {
      // LT: the index holds the earliest time the room may need a sweep, never a later one.
      indexes.push(...touch(keys.roomIndex(ns), 'LT', t.rooms));
      indexes.push(...touch(keys.tenantUsers(ns), 'GT', t.users));
      indexes.push(...touch(keys.tenantConns(ns), 'GT', t.conns));
    }
    // The tenant is registered last: a sweeper that drops an idle tenant re-checks the room index.
    const tenants: Cmd[] = perNs.size > 0 ? [['sadd', keys.tenants(), ...perNs.keys()]] : [];
    const [results] = await run([entries, indexes, tenants]);
    const codes = new Array<number>(connections.length);
    results!.forEach((codesOfCall, k) => (codesOfCall as number[]).forEach((code, j) => (codes[slots[k]![j]!] = code)));
    // The joins the room scripts decided count towards their users' rooms in the tenant (the
    // user comes online at 1); a heartbeat also puts recreated entries back in the user index.
    const joined = connections.flatMap((c, i) => (codes[i] === 1 || codes[i] === 3 ? [{ c, i }] : []));
    const firstForTenant = new Array<boolean>(connections.length).fill(false);
    if (joined.length > 0) {
      const counted = joined.map(({ c }): Cmd => ['parleyPresenceUserRoomCount', keys.userRoomCount(c.ns, encodeName(c.user)), 1]);
      const recreated = eagerUserIndex ? [] : joined.map(({ c }): Cmd => ['zadd', keys.userRooms(c.ns, encodeName(c.user)), 0, encodeName(c.room)]);
      const [counts] = (await run([counted, recreated])) as [number[], unknown[]];
      joined.forEach(({ i }, k) => (firstForTenant[i] = counts[k] === 1));
    }
    return { codes, firstForTenant };
  };

  /** Leaves the room scripts decided, counted off their users' rooms in the tenant: true where the user went offline. */
  const countLeaves = async (leaves: ReadonlyArray<{ ns: string; U: string }>): Promise<boolean[]> => {
    if (leaves.length === 0) return [];
    const [counts] = (await run([leaves.map(({ ns, U }): Cmd => ['parleyPresenceUserRoomCount', keys.userRoomCount(ns, U), -1])])) as [number[]];
    return counts.map((n) => n === 0);
  };

  const touch = (key: string, mode: 'GT' | 'LT', members: Iterable<string>): Cmd[] => {
    const all = [...members];
    const cmds: Cmd[] = [];
    for (let i = 0; i < all.length; i += 1000) cmds.push(['parleyPresenceTouch', key, mode, ttl, grace, ...all.slice(i, i + 1000)]);
    return cmds;
  };

  /**
   * Removes rooms from users' userRooms index, then re-checks each room: an add on another
   * gateway that raced the removal has already written its room entry (adds write the room
   * before the index), so the re-check puts the index entry back.
   */
  const dropFromUserRooms = async (items: ReadonlyArray<{ ns: string; U: string; R: string }>) => {
    if (items.length === 0) return;
    const [, states] = (await run([
      items.map(({ ns, U, R }): Cmd => ['zrem', keys.userRooms(ns, U), R]),
      items.map(({ ns, U, R }): Cmd => ['parleyPresenceUserState', keys.room(ns, R).u, U]),
    ])) as [unknown[], number[]];
    const back = items.filter((_, i) => states[i] !== -1).map(({ ns, U, R }): Cmd => ['zadd', keys.userRooms(ns, U), 0, R]);
    if (back.length > 0) await run([back]);
  };

  /** Sweeps the rooms of one tenant, starting from the due rooms already read. */
  const sweepTenant = async (ns: string, firstDue: string[], leaves: PresenceLeave[], counts: { connections: number }) => {
    const index = keys.roomIndex(ns);
    let due = firstDue;
    for (let round = 0; round < DEFAULT_SWEEP_MAX_ROUNDS && due.length > 0; round++) {
      const swept = (await run([due.map((R): Cmd => ['parleyPresenceSweepRoom', ...keys.room(ns, R).all, DEFAULT_SWEEP_CONNECTIONS_PER_CALL])]))[0] as string[][];
      const updates: Cmd[] = [];
      const emptied: string[] = [];
      const gone: Array<{ ns: string; U: string; R: string }> = [];
      const roundLeaves: PresenceLeave[] = [];
      swept.forEach(([next, deleted, vacated, ...users], i) => {
        counts.connections += Number(deleted);
        const R = due[i]!;
        users.forEach((U, k) => {
          const emptiedRoom = Number(vacated) === 1 && k === users.length - 1;
          roundLeaves.push({ ns, room: fromSubjectToken(R), user: fromSubjectToken(U), ...(emptiedRoom && { lastForRoom: true }) });
          gone.push({ ns, U, R });
        });
        // A room with more expired entries than one call deletes keeps a due score: next round.
        if (next === '-1') emptied.push(R);
        else updates.push(['zadd', index, next!, R]);
      });
      // An emptied room leaves the index, then is re-checked: an add that raced the removal
      // has already written its room entry (adds write the room before the index).
      const [, firsts] = await run([
        [...updates, ...emptied.map((R): Cmd => ['zrem', index, R])],
        emptied.map((R): Cmd => ['zrange', keys.room(ns, R).c, 0, 0, 'WITHSCORES']),
      ]);
      const readd: Cmd[] = [];
      emptied.forEach((R, i) => {
        const first = firsts?.[i] as string[] | undefined;
        if (first && first.length === 2) readd.push(['zadd', index, 'LT', first[1]!, R]);
      });
      if (readd.length > 0) await run([readd]);
      const offline = await countLeaves(gone);
      roundLeaves.forEach((leave, k) => leaves.push(offline[k] ? { ...leave, lastForTenant: true } : leave));
      await dropFromUserRooms(gone);
      due = (await one(['parleyPresenceDue', index, DEFAULT_SWEEP_ROOMS_PER_ROUND])) as string[];
    }
  };

  /**
   * Drops tenants with nothing left from the tenant set, then re-checks each: an add that raced
   * the removal has already touched the room index (adds register the tenant last).
   */
  const forgetIdleTenants = async (idle: string[]) => {
    if (idle.length === 0) return;
    const [, rooms] = (await run([idle.map((ns): Cmd => ['srem', keys.tenants(), ns]), idle.map((ns): Cmd => ['zcard', keys.roomIndex(ns)])])) as [unknown[], number[]];
    const back = idle.filter((_, i) => rooms[i]! > 0);
    if (back.length > 0) await one(['sadd', keys.tenants(), ...back]);
  };

  /**
   * Adds issued in one turn of the event loop go to Redis together, in one `write`: a burst of
   * joins costs a few pipelined commands instead of several per connection.
   */
  let pendingAdds: Array<{ connection: PresenceConnection; resolve: (result: { code: number; firstForTenant: boolean }) => void; reject: (error: unknown) => void }> = [];
  let addsScheduled: NodeJS.Immediate | undefined;
  const flushAdds = () => {
    clearImmediate(addsScheduled);
    addsScheduled = undefined;
    const batch = pendingAdds;
    if (batch.length === 0) return;
    pendingAdds = [];
    write(
      batch.map((p) => p.connection),
      true,
    ).then(
      ({ codes, firstForTenant }) => batch.forEach((p, i) => p.resolve({ code: codes[i]!, firstForTenant: firstForTenant[i]! })),
      (error: unknown) => batch.forEach((p) => p.reject(error)),
    );
  };

  return {
    async add(connection) {
      checkNs(connection.ns);
      const { code, firstForTenant } = await new Promise<{ code: number; firstForTenant: boolean }>((resolve, reject) => {
        pendingAdds.push({ connection, resolve, reject });
        addsScheduled ??= setImmediate(flushAdds);
      });
      if (code === 2) throw new ParleyError('conflict', 'connection id already used by another user in this room');
      return { firstForUser: code === 1 || code === 3, firstForRoom: code === 3, firstForTenant };
    },

    async remove({ ns, room, user, conn }) {
      checkNs(ns);
      // A remove goes out after every add issued before it, as without batching.
      flushAdds();
      const R = encodeName(room);
      const U = encodeName(user);
      const roomKeys = keys.room(ns, R);
      const [last, , roomEmptied] = (await one(['parleyPresenceRemove', ...roomKeys.all, conn, U])) as [number, number, number];
      if (last !== 1) return { lastForUser: false, lastForRoom: false, lastForTenant: false };
      const [lastForTenant] = await countLeaves([{ ns, U }]);
      await dropFromUserRooms([{ ns, U, R }]);
      return { lastForUser: true, lastForRoom: roomEmptied === 1, lastForTenant: lastForTenant === true };
    },

    async members(ns, room) {
      checkNs(ns);
      const roomKeys = keys.room(ns, encodeName(room));
      const values = await one(['parleyPresenceMembers', roomKeys.c, roomKeys.d]);
      const byUser = new Map<string, PresenceMember>();
      for (const raw of values as string[]) {
        const value = JSON.parse(raw.slice(raw.indexOf('|') + 1)) as StoredValue;
        const member = byUser.get(value.user);
        if (member) member.connections++;
        else byUser.set(value.user, { user: value.user, connections: 1, ...(value.info !== undefined && { info: value.info }) });
      }
      return [...byUser.values()];
    },

    async count(ns, room) {
      checkNs(ns);
      const roomKeys = keys.room(ns, encodeName(room));
      const [users, connections] = (await one(['parleyPresenceCount', roomKeys.c, roomKeys.u])) as [number, number];
      return { users, connections };
    },

    async userRooms(ns, user) {
      checkNs(ns);
      const U = encodeName(user);
      const rooms = (await one(['zrange', keys.userRooms(ns, U), 0, MAX_USER_ROOMS - 1])) as string[];
      if (rooms.length === 0) return [];
      const [states] = (await run([rooms.map((R): Cmd => ['parleyPresenceUserState', keys.room(ns, R).u, U])])) as [number[]];
      const stale = rooms.filter((_, i) => states[i] === -1).map((R) => ({ ns, U, R }));
      if (stale.length > 0) await dropFromUserRooms(stale);
      return rooms.filter((_, i) => states[i] === 1).map(fromSubjectToken);
    },

    async heartbeat(connections) {
      if (connections.length === 0) return [];
      // Conflicting ids (a caller bug) are skipped; every other entry is refreshed.
      const { codes, firstForTenant } = await write(connections, false);
      const rejoins: PresenceRejoin[] = [];
      codes.forEach((code, i) => {
        const c = connections[i]!;
        if (code === 1 || code === 3) rejoins.push({ ns: c.ns, room: c.room, user: c.user, ...(code === 3 && { firstForRoom: true }), ...(firstForTenant[i] && { firstForTenant: true }) });
      });
      return rejoins;
    },

    async sweep() {
      const leaves: PresenceSweepResult = [];
      const counts = { connections: 0 };
      const tenants = ((await one(['smembers', keys.tenants()])) as string[]).filter(isNamespace);
      // One round trip looks at every tenant: due rooms, and whether anything is left at all.
      const [overview] = await run([
        tenants.flatMap((ns): Cmd[] => [
          ['parleyPresenceDue', keys.roomIndex(ns), DEFAULT_SWEEP_ROOMS_PER_ROUND],
          ['parleyPresenceTrim', keys.tenantUsers(ns)],
          ['parleyPresenceTrim', keys.tenantConns(ns)],
          ['zcard', keys.roomIndex(ns)],
        ]),
      ]);
      const idle: string[] = [];
      for (const [i, ns] of tenants.entries()) {
        const [due, users, conns, rooms] = overview!.slice(4 * i, 4 * i + 4) as [string[], number, number, number];
        if (due.length > 0) await sweepTenant(ns, due, leaves, counts);
        else if (users === 0 && conns === 0 && rooms === 0) idle.push(ns);
      }
      await forgetIdleTenants(idle);
      leaves.sweptConnections = counts.connections;
      return leaves;
    },

    async stats() {
      const tenants = await one(['smembers', keys.tenants()]);
      const list = (tenants as string[]).filter(isNamespace);
      if (list.length === 0) return [];
      const [counts] = await run([list.flatMap((ns): Cmd[] => [['parleyPresenceTrim', keys.tenantUsers(ns)], ['parleyPresenceTrim', keys.tenantConns(ns)]])]);
      return list
        .map((ns, i): PresenceTenantStats => ({ ns, users: counts![2 * i] as number, connections: counts![2 * i + 1] as number }))
        .filter((s) => s.users > 0 || s.connections > 0);
    },

    async ping() {
      await one(['ping']);
    },

    async close() {
      flushAdds();
      if (!options.keepClientOpen) await redis.quit().catch(() => redis.disconnect());
      runner.close();
    },
  };
}
