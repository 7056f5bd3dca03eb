import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ParleyError } from '@parley/protocol';
import { createPresenceRedisClient } from '@parley/presence-store/redis';
import { freePort, startRedis, startRedisCluster, type RedisCluster, type ServerProcess } from '@parley/testkit';
import { createMemoryModerationStore } from '../src/index.ts';
import { createFileModerationStore, MODERATION_FILE } from '../src/file.ts';
import { openModerationStore } from '../src/open.ts';
import { createRedisModerationStore } from '../src/redis.ts';
import { AUDIT_CAP, START, moderationContract } from './moderation-contract.ts';

moderationContract('memory', async () => {
  let clock = START;
  const store = createMemoryModerationStore({ now: () => clock, auditEntriesPerTenant: AUDIT_CAP });
  return { store, advance: (ms) => void (clock += ms), teardown: () => store.close() };
}, { durable: false });

moderationContract('file', async () => {
  let clock = START;
  const dir = await mkdtemp(join(tmpdir(), 'parley-moderation-'));
  const open = () => createFileModerationStore(dir, { now: () => clock, auditEntriesPerTenant: AUDIT_CAP });
  const fixture = {
    store: await open(),
    advance: (ms: number) => void (clock += ms),
    async reopen() {
      await fixture.store.close();
      return open();
    },
    async teardown() {
      await fixture.store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}, { durable: true });

// One server per suite, emptied before each test: a redis-server per test would only add start-up time.
let redis: ServerProcess | undefined;
let cluster: RedisCluster | undefined;
afterAll(async () => {
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

function redisFixture(url: () => Promise<string>) {
  return async () => {
    let clock = START;
    const target = await url();
    const clients: Array<Redis | Cluster> = [];
    const open = async () => {
      const client = createPresenceRedisClient(target);
      clients.push(client);
      await waitReady(client);
      return createRedisModerationStore(client, { now: () => clock, auditEntriesPerTenant: AUDIT_CAP });
    };
    const store = await open();
    await flushAll(clients[0]!);
    return {
      store,
      advance: (ms: number) => void (clock += ms),
      reopen: open,
      async teardown() {
        for (const client of clients) client.disconnect();
      },
    };
  };
}

moderationContract(
  'redis',
  redisFixture(async () => (redis ??= await startRedis()).url),
  { durable: true },
);
moderationContract(
  'redis cluster',
  redisFixture(async () => (cluster ??= await startRedisCluster(3)).url),
  { durable: true },
);

describe('moderation stores beyond the contract', () => {
  it('redis - opened from a URL, the store answers its first call at once', async () => {
    redis ??= await startRedis();
    const { store, redis: client, owned } = openModerationStore({ redisUrl: redis.url });
    try {
      expect(owned).toBe(true);
      expect(store.kind).toBe('redis');
      await store.apply('first', 'lobby', { kind: 'invite', user: 'bob' });
      expect((await store.room('first', 'lobby')).invites).toEqual(new Set(['bob']));
    } finally {
      client?.disconnect();
    }
  });

  it('redis - an unreachable Redis fails calls with moderation_unavailable instead of hanging', async () => {
    const client = createPresenceRedisClient(`redis://127.0.0.1:${await freePort()}`);
    const refused: Error[] = [];
    client.on('error', (error: Error) => refused.push(error)); // what the owner of the client logs
    const store = createRedisModerationStore(client);
    try {
      const started = Date.now();
      for (const call of [store.room('acme', 'lobby'), store.apply('acme', 'lobby', { kind: 'unban', user: 'x' }), store.record('acme', { ts: 0, room: 'lobby', action: 'kick', actor: '$server' }), store.audit('acme', { limit: 1 })]) {
        await expect(call).rejects.toSatisfy((e: unknown) => e instanceof ParleyError && e.code === 'moderation_unavailable');
      }
      expect(Date.now() - started).toBeLessThan(5000);
      expect(refused.length).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
  });

  it('redis - an after that is no audit id is refused with bad_frame', async () => {
    redis ??= await startRedis();
    const client = createPresenceRedisClient(redis.url);
    try {
      await waitReady(client);
      await expect(createRedisModerationStore(client).audit('acme', { after: 'nope', limit: 1 })).rejects.toMatchObject({ code: 'bad_frame' });
    } finally {
      client.disconnect();
    }
  });

  it('file - the state is one JSON file, mode 0600, without expired bans', async () => {
    let clock = START;
    const dir = await mkdtemp(join(tmpdir(), 'parley-moderation-'));
    try {
      const store = await createFileModerationStore(dir, { now: () => clock });
      await store.apply('acme', 'lobby', { kind: 'ban', user: 'brief', until: START + 10 });
      clock += 10;
      await store.apply('acme', 'lobby', { kind: 'ban', user: 'mallory', until: null });
      expect((await stat(join(dir, MODERATION_FILE))).mode & 0o777).toBe(0o600);
      const saved = JSON.parse(await readFile(join(dir, MODERATION_FILE), 'utf8')) as { rooms: Record<string, Record<string, { bans: Record<string, unknown> }>> };
      expect(saved.rooms.acme!.lobby!.bans).toEqual({ mallory: null });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function waitReady(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('end', () => reject(new Error('the Redis connection ended before it was ready')));
  });
}

async function flushAll(client: Redis | Cluster): Promise<void> {
  if ('nodes' in client && typeof client.nodes === 'function' && client.isCluster) {
    await Promise.all(client.nodes('master').map((node) => node.flushall()));
  } else {
    await (client as Redis).flushall();
  }
}
