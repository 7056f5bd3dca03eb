import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type ServerProcess } from '@parley/testkit';
import { createMemoryPresenceStore, type PresenceConnection, type PresenceStore } from '../src/index.ts';
import { createRedisPresenceStore } from '../src/redis.ts';
import { testRedisClient } from './support.ts';

const USERS = 5000;
const PER_USER = 2;
const TTL_MS = 3000;

const connections = (ns: string): PresenceConnection[] => {
  const list: PresenceConnection[] = [];
  for (let u = 0; u < USERS; u++) for (let c = 0; c < PER_USER; c++) list.push({ ns, room: 'stadium', user: `fan-${u}`, conn: `conn-${u}-${c}`, gateway: `g${c}`, info: { n: u } });
  return list;
};

async function checkLargeRoom(store: PresenceStore, elapse: (ms: number) => Promise<void>) {
  const ns = 'big';
  await store.heartbeat(connections(ns));
  expect(await store.count(ns, 'stadium')).toEqual({ users: USERS, connections: USERS * PER_USER });
  const members = await store.members(ns, 'stadium');
  expect(members).toHaveLength(USERS);
  expect(members.every((m) => m.connections === PER_USER && m.info?.n === Number(m.user.slice(4)))).toBe(true);
  expect(await store.add({ ns, room: 'stadium', user: 'late', conn: 'late-1', gateway: 'g0' })).toMatchObject({ firstForUser: true });
  expect(await store.userRooms(ns, 'fan-4999')).toEqual(['stadium']);
  await elapse(TTL_MS + 100);
  const leaves = await store.sweep();
  expect(leaves).toHaveLength(USERS + 1);
  expect(new Set(leaves.map((l) => l.user)).size).toBe(USERS + 1);
  expect(await store.count(ns, 'stadium')).toEqual({ users: 0, connections: 0 });
}

describe('presence large room', () => {
  let redis: ServerProcess;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('presence large room - 10,000 connections are counted, listed and swept right (memory)', async () => {
    let clock = 0;
    const store = createMemoryPresenceStore({ ttlMs: TTL_MS, now: () => clock });
    await checkLargeRoom(store, async (ms) => void (clock += ms));
  });

  it('presence large room - 10,000 connections are counted, listed and swept right (redis)', async () => {
    const store = createRedisPresenceStore(testRedisClient(redis.url), { ttlMs: TTL_MS });
    try {
      await checkLargeRoom(store, (ms) => new Promise((r) => setTimeout(r, ms)));
    } finally {
      await store.close();
    }
  });
});
