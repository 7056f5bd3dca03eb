/**
 * Presence with one room of 10,000 connections (5,000 users x 2 tabs) on a real redis-server
 * spawned here. Run: ./parley node packages/presence-store/bench/large-room.ts
 * Prints a Markdown table for docs/benchmarks.md ("## Presence").
 */
import { performance } from 'node:perf_hooks';
import { cpus } from 'node:os';
import { startRedis } from '@parley/testkit';
import type { PresenceConnection } from '@parley/presence-store';
import { createRedisPresenceStore, PRESENCE_REDIS_OPTIONS } from '@parley/presence-store/redis';
import { Redis } from 'ioredis';

const USERS = 5000;
const TABS = 2;
const QUERY_RUNS = 50;

const redis = await startRedis();
const client = new Redis(redis.url, PRESENCE_REDIS_OPTIONS);
const store = createRedisPresenceStore(client, { ttlMs: 60_000 });
const rows: Array<[string, string]> = [];

const conns: PresenceConnection[] = [];
for (let u = 0; u < USERS; u++) for (let t = 0; t < TABS; t++) conns.push({ ns: 'bench', room: 'stadium', user: `fan-${u}`, conn: `c-${u}-${t}`, gateway: `g${t}`, info: { name: `Fan ${u}` } });

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));

async function timeRuns(label: string, fn: () => Promise<unknown>) {
  const samples: number[] = [];
  for (let i = 0; i < QUERY_RUNS; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  rows.push([label, `p50 ${fmt(percentile(samples, 0.5))} ms, p99 ${fmt(percentile(samples, 0.99))} ms`]);
}

try {
  await store.ping!();
  // Adds one at a time (each waits for its reply), the first 2,000.
  let t0 = performance.now();
  for (const c of conns.slice(0, 2000)) await store.add(c);
  let dt = performance.now() - t0;
  rows.push(['add, sequential (one awaited call at a time)', `${Math.round(2000 / (dt / 1000)).toLocaleString('en')} adds/s`]);

  // Adds with many in flight, as a busy gateway issues them: the remaining 8,000, 500 at a time.
  t0 = performance.now();
  for (let i = 2000; i < conns.length; i += 500) await Promise.all(conns.slice(i, i + 500).map((c) => store.add(c)));
  dt = performance.now() - t0;
  rows.push(['add, 500 in flight', `${Math.round(8000 / (dt / 1000)).toLocaleString('en')} adds/s`]);

  const count = await store.count('bench', 'stadium');
  if (count.users !== USERS || count.connections !== USERS * TABS) throw new Error(`wrong count ${JSON.stringify(count)}`);

  const beats: number[] = [];
  for (let i = 0; i < 10; i++) {
    t0 = performance.now();
    await store.heartbeat(conns);
    beats.push(performance.now() - t0);
  }
  beats.sort((a, b) => a - b);
  rows.push(['heartbeat of all 10,000 (one pipeline)', `p50 ${fmt(percentile(beats, 0.5))} ms (${Math.round(conns.length / (percentile(beats, 0.5) / 1000)).toLocaleString('en')} entries/s)`]);

  await timeRuns('members() of the 10,000-connection room (5,000 members)', () => store.members('bench', 'stadium'));
  await timeRuns('count() of the same room', () => store.count('bench', 'stadium'));
  await timeRuns('userRooms() of one user', () => store.userRooms('bench', 'fan-42'));

  const used = String(await client.call('memory', 'usage', 'parley:presence:{bench:c3RhZGl1bQ}:d'));
  rows.push(['Redis memory of the room hash (conn -> details)', `${(Number(used) / 1024 / 1024).toFixed(1)} MiB`]);

  // Sweep: every entry expired (short ttl store on the same keys), 10,000 deletions, 5,000 leaves.
  const sweeper = createRedisPresenceStore(new Redis(redis.url, PRESENCE_REDIS_OPTIONS), { ttlMs: 1 });
  await sweeper.heartbeat(conns);
  await new Promise((r) => setTimeout(r, 10));
  t0 = performance.now();
  const leaves = await sweeper.sweep();
  dt = performance.now() - t0;
  if (leaves.length !== USERS) throw new Error(`expected ${USERS} leaves, got ${leaves.length}`);
  rows.push(['sweep of 10,000 expired connections (5,000 leaves)', `${fmt(dt)} ms`]);
  await sweeper.close();

  console.log(`Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} (${cpus().length} cores, shared), redis-server on loopback\n`);
  console.log('| operation | result |\n|---|---|');
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
} finally {
  await store.close();
  await redis.stop();
}
