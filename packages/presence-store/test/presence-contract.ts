import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParleyError } from '@parley/protocol';
import type { PresenceConnection, PresenceLeave, PresenceStore } from '../src/index.ts';

/** What a contract run needs from an implementation. */
export interface PresenceHarness {
  /** The store under test. */
  store: PresenceStore;
  /** A second handle on the same presence state (Redis: another client; memory: the same store). */
  other: PresenceStore;
  /** The ttl both were built with. */
  ttlMs: number;
  /** Lets `ms` of presence time pass (memory: an injected clock; Redis: real time). */
  elapse(ms: number): Promise<void>;
  teardown(): Promise<void>;
}

let nsCounter = 0;
/** A fresh namespace per test, so that tests sharing one Redis never see each other. */
const freshNs = () => `t${process.pid}-${++nsCounter}`;

const conn = (ns: string, room: string, user: string, id: string, extra: Partial<PresenceConnection> = {}): PresenceConnection => ({
  ns,
  room,
  user,
  conn: id,
  gateway: 'g1',
  ...extra,
});

const sortMembers = (m: Array<{ user: string }>) => [...m].sort((a, b) => a.user.localeCompare(b.user));
const leavesOf = (leaves: PresenceLeave[], ns: string) =>
  leaves
    .filter((l) => l.ns === ns)
    .map((l) => `${l.room}/${l.user}`)
    .sort();

/** The presence contract, written once and run against every PresenceStore implementation. */
export function presenceContract(name: string, setup: () => Promise<PresenceHarness>) {
  describe(`presence contract (${name})`, () => {
    let h: PresenceHarness;
    beforeAll(async () => {
      h = await setup();
    });
    afterAll(async () => {
      await h?.teardown();
    });

    it('presence - adds issued together (a burst of joins) keep their order: one join per user, conflicts refused alone', async () => {
      const ns = freshNs();
      const { store } = h;
      const results = await Promise.allSettled([
        store.add(conn(ns, 'lobby', 'ann', 'b1')),
        store.add(conn(ns, 'lobby', 'ann', 'b2')),
        store.add(conn(ns, 'lobby', 'bob', 'b3')),
        store.add(conn(ns, 'lobby', 'eve', 'b3')),
        store.add(conn(ns, 'other', 'ann', 'b4')),
        store.remove({ ns, room: 'lobby', user: 'ann', conn: 'b1' }),
      ]);
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as ParleyError).code))).toEqual([
        { firstForUser: true, firstForRoom: true, firstForTenant: true },
        { firstForUser: false, firstForRoom: false, firstForTenant: false },
        { firstForUser: true, firstForRoom: false, firstForTenant: true },
        'conflict',
        { firstForUser: true, firstForRoom: true, firstForTenant: false },
        { lastForUser: false, lastForRoom: false, lastForTenant: false },
      ]);
      expect(sortMembers(await store.members(ns, 'lobby'))).toEqual([
        { user: 'ann', connections: 1 },
        { user: 'bob', connections: 1 },
      ]);
    });

    it('presence - the first connection of a user joins and the last one leaves', async () => {
      const ns = freshNs();
      const { store } = h;
      expect(await store.add(conn(ns, 'lobby', 'ann', 'c1', { info: { name: 'Ann' } }))).toMatchObject({ firstForUser: true });
      expect(await store.add(conn(ns, 'lobby', 'ann', 'c2', { gateway: 'g2' }))).toMatchObject({ firstForUser: false });
      expect(await store.add(conn(ns, 'lobby', 'ann', 'c2', { gateway: 'g2' }))).toMatchObject({ firstForUser: false });
      expect(await store.add(conn(ns, 'lobby', 'bob', 'c3'))).toMatchObject({ firstForUser: true });
      expect(await store.remove({ ns, room: 'lobby', user: 'ann', conn: 'c1' })).toMatchObject({ lastForUser: false });
      expect(await store.remove({ ns, room: 'lobby', user: 'ann', conn: 'c2' })).toMatchObject({ lastForUser: true });
      expect(await store.remove({ ns, room: 'lobby', user: 'ann', conn: 'c2' })).toMatchObject({ lastForUser: false });
      expect(await store.remove({ ns, room: 'lobby', user: 'bob', conn: 'nope' })).toMatchObject({ lastForUser: false });
      expect(await store.add(conn(ns, 'lobby', 'ann', 'c4'))).toMatchObject({ firstForUser: true });
    });

    it('presence - a room is occupied by its first entry and vacated by its last, once each, whoever removes it', async () => {
      const ns = freshNs();
      const { store, other } = h;
      expect(await store.add(conn(ns, 'hall', 'ann', 'a1'))).toMatchObject({ firstForUser: true, firstForRoom: true });
      expect(await other.add(conn(ns, 'hall', 'bob', 'b1', { gateway: 'g2' }))).toMatchObject({ firstForUser: true, firstForRoom: false });
      expect(await store.add(conn(ns, 'hall', 'ann', 'a2'))).toMatchObject({ firstForUser: false, firstForRoom: false });
      expect(await store.remove({ ns, room: 'hall', user: 'ann', conn: 'a1' })).toMatchObject({ lastForUser: false, lastForRoom: false });
      expect(await store.remove({ ns, room: 'hall', user: 'ann', conn: 'a2' })).toMatchObject({ lastForUser: true, lastForRoom: false });
      expect(await other.remove({ ns, room: 'hall', user: 'bob', conn: 'b1' })).toMatchObject({ lastForUser: true, lastForRoom: true });
      expect(await other.remove({ ns, room: 'hall', user: 'bob', conn: 'b1' })).toMatchObject({ lastForUser: false, lastForRoom: false });
      // Occupied again; then every entry expires: the sweep vacates it with the last of its leaves.
      expect(await store.add(conn(ns, 'hall', 'cy', 'c1'))).toMatchObject({ firstForUser: true, firstForRoom: true });
      await store.add(conn(ns, 'hall', 'dee', 'd1'));
      await store.heartbeat([conn(ns, 'side', 'cy', 'c2')]);
      await h.elapse(h.ttlMs + 100);
      const leaves = (await other.sweep()).filter((l) => l.ns === ns);
      expect(leaves.filter((l) => l.room === 'hall').map((l) => l.user).sort()).toEqual(['cy', 'dee']);
      expect(leaves.filter((l) => l.lastForRoom).map((l) => l.room).sort()).toEqual(['hall', 'side']);
      expect(leaves.filter((l) => l.room === 'hall').at(-1)?.lastForRoom).toBe(true);
    });

    it('presence - a user comes online with its first room in the tenant and goes offline with its last, whoever removes it', async () => {
      const ns = freshNs();
      const { store, other } = h;
      expect(await store.add(conn(ns, 'a', 'ann', 'a1'))).toMatchObject({ firstForUser: true, firstForTenant: true });
      expect(await store.add(conn(ns, 'a', 'ann', 'a2'))).toMatchObject({ firstForUser: false, firstForTenant: false });
      expect(await other.add(conn(ns, 'b', 'ann', 'a3', { gateway: 'g2' }))).toMatchObject({ firstForUser: true, firstForTenant: false });
      // Another tenant's user of the same name is someone else.
      expect(await store.add(conn(freshNs(), 'a', 'ann', 'x1'))).toMatchObject({ firstForTenant: true });
      expect(await store.remove({ ns, room: 'a', user: 'ann', conn: 'a1' })).toMatchObject({ lastForUser: false, lastForTenant: false });
      expect(await store.remove({ ns, room: 'a', user: 'ann', conn: 'a2' })).toMatchObject({ lastForUser: true, lastForTenant: false });
      expect(await other.remove({ ns, room: 'b', user: 'ann', conn: 'a3' })).toMatchObject({ lastForUser: true, lastForTenant: true });
      expect(await other.remove({ ns, room: 'b', user: 'ann', conn: 'a3' })).toMatchObject({ lastForUser: false, lastForTenant: false });
      // Online again in two rooms; every entry expires: one of the sweep's leaves takes it offline.
      expect(await store.add(conn(ns, 'a', 'ann', 'a4'))).toMatchObject({ firstForTenant: true });
      await store.add(conn(ns, 'b', 'ann', 'a5'));
      await h.elapse(h.ttlMs + 100);
      const leaves = (await other.sweep()).filter((l) => l.ns === ns);
      expect(leaves.map((l) => l.room).sort()).toEqual(['a', 'b']);
      expect(leaves.filter((l) => l.lastForTenant)).toHaveLength(1);
      // A heartbeat that recreates the swept entries brings the user online again, once.
      const rejoins = await store.heartbeat([conn(ns, 'a', 'ann', 'a4'), conn(ns, 'b', 'ann', 'a5')]);
      expect(rejoins.map((r) => r.room).sort()).toEqual(['a', 'b']);
      expect(rejoins.filter((r) => r.firstForTenant)).toHaveLength(1);
    });

    it('presence - members and count are per user, with connection counts and info', async () => {
      const ns = freshNs();
      const { store, other } = h;
      await store.add(conn(ns, 'r', 'ann', 'a1', { info: { name: 'Ann' } }));
      await other.add(conn(ns, 'r', 'ann', 'a2', { info: { name: 'Ann' }, gateway: 'g2' }));
      await store.add(conn(ns, 'r', 'ann', 'a3', { info: { name: 'Ann' } }));
      await store.add(conn(ns, 'r', 'bob', 'b1'));
      await store.add(conn(ns, 'other-room', 'cy', 'c1'));
      for (const s of [store, other]) {
        expect(sortMembers(await s.members(ns, 'r'))).toEqual([
          { user: 'ann', connections: 3, info: { name: 'Ann' } },
          { user: 'bob', connections: 1 },
        ]);
        expect(await s.count(ns, 'r')).toEqual({ users: 2, connections: 4 });
        expect(await s.count(ns, 'empty')).toEqual({ users: 0, connections: 0 });
        expect(await s.members(ns, 'empty')).toEqual([]);
      }
      await store.remove({ ns, room: 'r', user: 'ann', conn: 'a2' });
      expect(await other.count(ns, 'r')).toEqual({ users: 2, connections: 3 });
    });

    it('presence - userRooms lists the rooms where the user has a live connection', async () => {
      const ns = freshNs();
      const { store, other } = h;
      await store.add(conn(ns, 'one', 'ann', 'a1'));
      await store.add(conn(ns, 'two', 'ann', 'a1'));
      await other.add(conn(ns, 'two', 'ann', 'a2'));
      await store.add(conn(ns, 'three', 'bob', 'b1'));
      expect((await other.userRooms(ns, 'ann')).sort()).toEqual(['one', 'two']);
      await store.remove({ ns, room: 'two', user: 'ann', conn: 'a1' });
      expect((await store.userRooms(ns, 'ann')).sort()).toEqual(['one', 'two']);
      await other.remove({ ns, room: 'two', user: 'ann', conn: 'a2' });
      expect(await store.userRooms(ns, 'ann')).toEqual(['one']);
      expect(await store.userRooms(ns, 'nobody')).toEqual([]);
    });

    it('presence - expired entries are invisible to every query', async () => {
      const ns = freshNs();
      const { store } = h;
      await store.add(conn(ns, 'r', 'ann', 'a1'));
      await store.add(conn(ns, 'r', 'bob', 'b1'));
      await h.elapse(h.ttlMs + 100);
      await store.heartbeat([conn(ns, 'r', 'bob', 'b1')]);
      expect(await store.members(ns, 'r')).toEqual([{ user: 'bob', connections: 1 }]);
      expect(await store.count(ns, 'r')).toEqual({ users: 1, connections: 1 });
      expect(await store.userRooms(ns, 'ann')).toEqual([]);
      expect(await store.userRooms(ns, 'bob')).toEqual(['r']);
      if (store.stats) expect((await store.stats()).find((s) => s.ns === ns)).toEqual({ ns, users: 1, connections: 1 });
    });

    it('presence - heartbeat refreshes entries and recreates missing ones, reporting the users it recreated first', async () => {
      const ns = freshNs();
      const { store, other } = h;
      await store.add(conn(ns, 'r', 'ann', 'a1', { info: { v: 1 } }));
      // Never added (Redis restarted empty, say): the beat brings it back, and says whom it recreated.
      const rejoins = await store.heartbeat([conn(ns, 'r', 'ann', 'a1', { info: { v: 2 } }), conn(ns, 'r', 'bob', 'b1'), conn(ns, 'q', 'bob', 'b1')]);
      expect(rejoins.map((r) => `${r.room}/${r.user}`).sort()).toEqual(['q/bob', 'r/bob']);
      expect(await store.heartbeat([conn(ns, 'r', 'bob', 'b1'), conn(ns, 'q', 'bob', 'b1')])).toEqual([]);
      expect(sortMembers(await other.members(ns, 'r'))).toEqual([
        { user: 'ann', connections: 1, info: { v: 2 } },
        { user: 'bob', connections: 1 },
      ]);
      expect((await other.userRooms(ns, 'bob')).sort()).toEqual(['q', 'r']);
      expect(await store.add(conn(ns, 'r', 'bob', 'b2'))).toMatchObject({ firstForUser: false });
      await store.heartbeat([]);
    });

    it('presence - a beat after a sweep removed its entries reports each user once, a leave then a rejoin', async () => {
      const ns = freshNs();
      const { store, other } = h;
      await store.add(conn(ns, 'r', 'ann', 'a1'));
      await store.add(conn(ns, 'r', 'ann', 'a2'));
      await h.elapse(h.ttlMs + 100);
      expect(leavesOf(await other.sweep(), ns)).toEqual(['r/ann']);
      // The frozen owner wakes up and beats both connections: one rejoin for the user.
      const rejoins = await store.heartbeat([conn(ns, 'r', 'ann', 'a1'), conn(ns, 'r', 'ann', 'a2')]);
      // The sweep emptied the room, so the rejoin occupies it again.
      expect(rejoins).toEqual([{ ns, room: 'r', user: 'ann', firstForRoom: true, firstForTenant: true }]);
      expect(await store.heartbeat([conn(ns, 'r', 'ann', 'a1'), conn(ns, 'r', 'ann', 'a2')])).toEqual([]);
      expect(await other.members(ns, 'r')).toEqual([{ user: 'ann', connections: 2 }]);
    });

    it('presence - sweep deletes expired entries and reports only users whose last entry went', async () => {
      const ns = freshNs();
      const { store, other } = h;
      await store.add(conn(ns, 'r', 'ann', 'dead-a', { gateway: 'dead' }));
      await store.add(conn(ns, 'r', 'ann', 'live-a'));
      await store.add(conn(ns, 'r', 'bob', 'dead-b', { gateway: 'dead' }));
      await store.add(conn(ns, 'q', 'bob', 'dead-b2', { gateway: 'dead' }));
      await store.add(conn(ns, 'r', 'cy', 'dead-c', { gateway: 'dead' }));
      await h.elapse(h.ttlMs + 100);
      // The live gateway beats; cy reconnects through it before any sweep ran.
      await store.heartbeat([conn(ns, 'r', 'ann', 'live-a')]);
      expect(await store.add(conn(ns, 'r', 'cy', 'new-c'))).toMatchObject({ firstForUser: false });
      const leaves = await other.sweep();
      expect(leavesOf(leaves, ns)).toEqual(['q/bob', 'r/bob']);
      // dead-a, dead-b, dead-b2 and dead-c (other tests' namespaces may add theirs).
      expect(leaves.sweptConnections).toBeGreaterThanOrEqual(4);
      expect(leavesOf(await store.sweep(), ns)).toEqual([]);
      expect(sortMembers(await store.members(ns, 'r'))).toEqual([
        { user: 'ann', connections: 1 },
        { user: 'cy', connections: 1 },
      ]);
      expect(await store.count(ns, 'q')).toEqual({ users: 0, connections: 0 });
      expect(await store.userRooms(ns, 'bob')).toEqual([]);
      // Removal of a swept connection is not a second leave.
      expect(await store.remove({ ns, room: 'r', user: 'bob', conn: 'dead-b' })).toMatchObject({ lastForUser: false });
      expect(await store.add(conn(ns, 'r', 'bob', 'b-again'))).toMatchObject({ firstForUser: true });
    });

    it('presence - an expired entry removed by its gateway is never announced twice', async () => {
      const ns = freshNs();
      const { store } = h;
      await store.add(conn(ns, 'r', 'ann', 'a1'));
      await h.elapse(h.ttlMs + 100);
      expect(await store.add(conn(ns, 'r', 'ann', 'a2'))).toMatchObject({ firstForUser: false });
      expect(await store.remove({ ns, room: 'r', user: 'ann', conn: 'a2' })).toMatchObject({ lastForUser: false });
      expect(leavesOf(await store.sweep(), ns)).toEqual(['r/ann']);
      await store.add(conn(ns, 'r', 'bob', 'b1'));
      await h.elapse(h.ttlMs + 100);
      expect(await store.remove({ ns, room: 'r', user: 'bob', conn: 'b1' })).toMatchObject({ lastForUser: true });
      expect(leavesOf(await store.sweep(), ns)).toEqual([]);
    });

    it('presence - concurrent sweepers report each leave exactly once', async () => {
      const ns = freshNs();
      const { store, other } = h;
      const entries: PresenceConnection[] = [];
      for (let u = 0; u < 60; u++) for (const room of ['x', 'y']) entries.push(conn(ns, room, `user-${u}`, `${room}-${u}`, { gateway: 'dead' }));
      await store.heartbeat(entries);
      await h.elapse(h.ttlMs + 100);
      const [a, b] = await Promise.all([store.sweep(), other.sweep()]);
      const all = leavesOf([...a, ...b], ns);
      expect(all).toHaveLength(120);
      expect(new Set(all).size).toBe(120);
      expect(leavesOf([...(await store.sweep()), ...(await other.sweep())], ns)).toEqual([]);
    });

    it('presence - namespaces never mix', async () => {
      const ns1 = freshNs();
      const ns2 = freshNs();
      const { store } = h;
      await store.add(conn(ns1, 'lobby', 'ann', 'a1'));
      await store.add(conn(ns2, 'lobby', 'bob', 'b1'));
      expect(await store.add(conn(ns2, 'lobby', 'ann', 'a2'))).toMatchObject({ firstForUser: true });
      expect(sortMembers(await store.members(ns1, 'lobby'))).toEqual([{ user: 'ann', connections: 1 }]);
      expect(sortMembers(await store.members(ns2, 'lobby'))).toEqual([
        { user: 'ann', connections: 1 },
        { user: 'bob', connections: 1 },
      ]);
      expect(await store.userRooms(ns1, 'bob')).toEqual([]);
      expect(await store.remove({ ns: ns1, room: 'lobby', user: 'bob', conn: 'b1' })).toMatchObject({ lastForUser: false });
      expect(await store.count(ns2, 'lobby')).toEqual({ users: 2, connections: 2 });
      await h.elapse(h.ttlMs + 100);
      const leaves = await store.sweep();
      expect(leavesOf(leaves, ns1)).toEqual(['lobby/ann']);
      expect(leavesOf(leaves, ns2)).toEqual(['lobby/ann', 'lobby/bob']);
    });

    it('presence - hostile room and user names stay apart and round-trip', async () => {
      const ns = freshNs();
      const { store } = h;
      const users = ['a', 'a:b', 'a|b', 'ab', '{demo:YQ}', '}{', 'a b', '"q"', '*', '>', 'ü', '日本', 'x'.repeat(128)];
      const rooms = ['r', 'r:x', 'r/#+=~!@', 'комната', 'r_'];
      let n = 0;
      for (const room of rooms) for (const user of users) await store.add(conn(ns, room, user, `c${n++}|:{}`, { info: { user } }));
      for (const room of rooms) {
        const members = await store.members(ns, room);
        expect(members.map((m) => m.user).sort()).toEqual([...users].sort());
        for (const m of members) expect(m).toEqual({ user: m.user, connections: 1, info: { user: m.user } });
        expect(await store.count(ns, room)).toEqual({ users: users.length, connections: users.length });
      }
      for (const user of users) expect((await store.userRooms(ns, user)).sort()).toEqual([...rooms].sort());
      expect(await store.remove({ ns, room: 'r', user: 'a', conn: 'c1|:{}' })).toMatchObject({ lastForUser: false });
      expect(await store.remove({ ns, room: 'r', user: 'a:b', conn: 'c1|:{}' })).toMatchObject({ lastForUser: true });
      expect((await store.members(ns, 'r')).map((m) => m.user)).not.toContain('a:b');
      await h.elapse(h.ttlMs + 100);
      const leaves = leavesOf(await store.sweep(), ns);
      expect(leaves).toHaveLength(rooms.length * users.length - 1);
      expect(leaves).toContain('r:x/{demo:YQ}');
    });

    it('presence - a connection id reused by another user in a room is refused', async () => {
      const ns = freshNs();
      const { store } = h;
      await store.add(conn(ns, 'r', 'ann', 'same'));
      await expect(store.add(conn(ns, 'r', 'bob', 'same'))).rejects.toSatisfy((e) => e instanceof ParleyError && e.code === 'conflict');
      await store.heartbeat([conn(ns, 'r', 'bob', 'same'), conn(ns, 'r', 'cy', 'c1')]);
      expect(sortMembers(await store.members(ns, 'r'))).toEqual([
        { user: 'ann', connections: 1 },
        { user: 'cy', connections: 1 },
      ]);
      expect(await store.remove({ ns, room: 'r', user: 'bob', conn: 'same' })).toMatchObject({ lastForUser: false });
      expect(await store.add(conn(ns, 'other', 'bob', 'same'))).toMatchObject({ firstForUser: true });
    });

    it('presence - stats count distinct live users and connections per tenant', async () => {
      const ns = freshNs();
      const { store } = h;
      if (!store.stats) return;
      await store.add(conn(ns, 'r1', 'ann', 'a1'));
      await store.add(conn(ns, 'r2', 'ann', 'a1'));
      await store.add(conn(ns, 'r2', 'ann', 'a2'));
      await store.add(conn(ns, 'r2', 'bob', 'b1'));
      expect((await store.stats()).find((s) => s.ns === ns)).toEqual({ ns, users: 2, connections: 3 });
      await h.elapse(h.ttlMs + 100);
      await store.sweep();
      expect((await store.stats()).find((s) => s.ns === ns)).toBeUndefined();
    });
  });
}
