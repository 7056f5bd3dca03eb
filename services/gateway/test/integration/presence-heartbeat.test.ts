import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PresenceConnection, PresenceStore } from '@parley/presence-store';
import { createPresenceRedisClient, createRedisPresenceStore } from '@parley/presence-store/redis';
import { startRedis, type ServerProcess, type TestClient } from '@parley/testkit';
import { HEARTBEAT_CHUNK } from '../../src/domain/presence-heartbeat.ts';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway } from '../support.ts';

const HEARTBEAT_MS = 600;
const CONNECTIONS = 100;
const ROOMS = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];

describe('presence heartbeat', () => {
  let redis: ServerProcess;
  let gw: TestGateway;
  const clients: TestClient[] = [];
  /** Every heartbeat call the gateway makes: when, and what it refreshed. */
  const beats: { at: number; entries: PresenceConnection[] }[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const store = createRedisPresenceStore(createPresenceRedisClient(redis.url));
    const observed: PresenceStore = {
      ...store,
      heartbeat(entries) {
        beats.push({ at: performance.now(), entries: [...entries] });
        return store.heartbeat(entries);
      },
    };
    const keys = await createTestKeys();
    gw = await startTestGateway(keys, { presence: observed, presenceHeartbeatMs: HEARTBEAT_MS });
    for (let i = 0; i < CONNECTIONS; i++) clients.push(await join(gw.wsUrl, await mintToken(keys, { sub: `user-${i}` }), ROOMS));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw?.gateway.close();
    await redis?.stop();
  });

  it('presence heartbeat - a pass refreshes every (room, connection) once, in chunks spread over half the interval', async () => {
    const total = CONNECTIONS * ROOMS.length;
    const joinedAt = performance.now();
    // A whole pass that started after every connection joined.
    let pass: typeof beats = [];
    await until(() => (pass = firstPassAfter(joinedAt, total)).length > 0, 10_000);

    // Chunks of HEARTBEAT_CHUNK entries (a connection's rooms are never split): 252, 252, 96.
    const sizes = pass.map((b) => b.entries.length);
    expect(sizes).toHaveLength(Math.ceil(total / HEARTBEAT_CHUNK));
    for (const size of sizes) expect(size).toBeLessThan(HEARTBEAT_CHUNK + ROOMS.length);
    const refreshed = pass.flatMap((b) => b.entries.map((e) => `${e.conn}/${e.room}`));
    expect(refreshed).toHaveLength(total);
    expect(new Set(refreshed).size).toBe(total);
    // Spread: each chunk goes about HEARTBEAT_MS / 2 / chunks after the previous one's reply.
    const pause = Math.floor(HEARTBEAT_MS / 2 / sizes.length);
    for (let i = 1; i < pass.length; i++) expect(pass[i]!.at - pass[i - 1]!.at).toBeGreaterThanOrEqual(pause - 2);
    expect(pass.at(-1)!.at - pass[0]!.at).toBeLessThan(HEARTBEAT_MS);
  });

  /**
   * The calls of the first whole pass that started after `t`: a pass goes through the sessions in
   * the order they opened, so it starts with the first connection's entries and ends once it has
   * refreshed `total` of them. Empty while no such pass has finished.
   */
  function firstPassAfter(t: number, total: number): typeof beats {
    const start = beats.findIndex((b) => b.at > t && b.entries[0]?.user === 'user-0');
    if (start < 0) return [];
    let refreshed = 0;
    for (let i = start; i < beats.length; i++) {
      refreshed += beats[i]!.entries.length;
      if (refreshed >= total) return beats.slice(start, i + 1);
    }
    return [];
  }
});

async function until(check: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
