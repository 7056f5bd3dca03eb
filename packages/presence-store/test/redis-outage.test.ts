import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { ParleyError } from '@parley/protocol';
import { startRedis, type ServerProcess } from '@parley/testkit';
import type { PresenceConnection, PresenceStore } from '../src/index.ts';
import { createRedisPresenceStore } from '../src/redis.ts';
import { eventually, testRedisClient } from './support.ts';

const isUnavailable = (e: unknown) => e instanceof ParleyError && e.code === 'presence_unavailable';

describe('presence redis outage', () => {
  let redis: ServerProcess;
  let client: Redis;
  let store: PresenceStore;
  const errors: Error[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    client = testRedisClient(redis.url);
    // Used at once, before the connection is ready: the first calls wait for it (bounded).
    store = createRedisPresenceStore(client, { ttlMs: 5000, onError: (e) => errors.push(e) });
  });
  afterAll(async () => {
    await store?.close();
    await redis?.stop();
  });

  const live: PresenceConnection[] = [
    { ns: 'acme', room: 'lobby', user: 'ann', conn: 'a1', gateway: 'g1', info: { name: 'Ann' } },
    { ns: 'acme', room: 'lobby', user: 'bob', conn: 'b1', gateway: 'g1' },
    { ns: 'acme', room: 'ops', user: 'bob', conn: 'b1', gateway: 'g1' },
  ];

  it('presence redis outage - calls fail fast with presence_unavailable, and a heartbeat restores everything after an empty restart', async () => {
    for (const c of live) await store.add(c);
    expect(await store.count('acme', 'lobby')).toEqual({ users: 2, connections: 2 });

    await redis.stop('SIGKILL');
    const started = Date.now();
    const calls = [
      store.add({ ns: 'acme', room: 'lobby', user: 'cy', conn: 'c1', gateway: 'g1' }),
      store.remove({ ns: 'acme', room: 'lobby', user: 'ann', conn: 'a1' }),
      store.members('acme', 'lobby'),
      store.count('acme', 'lobby'),
      store.userRooms('acme', 'bob'),
      store.heartbeat(live),
      store.sweep(),
      store.ping!(),
      // A burst: none of it may queue up behind the outage.
      ...Array.from({ length: 200 }, () => store.count('acme', 'lobby')),
    ];
    const results = await Promise.allSettled(calls);
    expect(Date.now() - started).toBeLessThan(1500);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect(isUnavailable((r as PromiseRejectedResult).reason)).toBe(true);
    }
    expect(errors.length).toBeGreaterThan(0);

    await redis.restart();
    await eventually(async () => (await store.ping!().then(() => true, () => false)), 10_000, 'redis to come back');
    // Empty after the restart: the gateway's next beat re-asserts its live connections.
    expect(await store.count('acme', 'lobby')).toEqual({ users: 0, connections: 0 });
    await store.heartbeat(live);
    expect(await store.count('acme', 'lobby')).toEqual({ users: 2, connections: 2 });
    expect((await store.members('acme', 'lobby')).find((m) => m.user === 'ann')).toEqual({ user: 'ann', connections: 1, info: { name: 'Ann' } });
    expect((await store.userRooms('acme', 'bob')).sort()).toEqual(['lobby', 'ops']);
    expect(await store.add({ ns: 'acme', room: 'lobby', user: 'ann', conn: 'a2', gateway: 'g2' })).toMatchObject({ firstForUser: false });
  });

  it('presence redis outage - a heartbeat of many connections is one write to Redis', async () => {
    const many: PresenceConnection[] = Array.from({ length: 1000 }, (_, i) => ({ ns: 'acme', room: `room-${i % 10}`, user: `u${i}`, conn: `k${i}`, gateway: 'g1' }));
    // The first beat creates the entries (and then indexes the users: a second round trip);
    // the steady-state beat refreshes them in one.
    await store.heartbeat(many);
    const stream = (client as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
    const write = stream.write;
    let writes = 0;
    stream.write = function (this: unknown, ...args: unknown[]) {
      writes++;
      return write.apply(this, args);
    };
    try {
      await store.heartbeat(many);
    } finally {
      stream.write = write;
    }
    expect(writes).toBe(1);
    expect(await store.count('acme', 'room-3')).toEqual({ users: 100, connections: 100 });
  });
});
