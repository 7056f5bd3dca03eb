import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createMemoryBus, HEADER_ORIGIN, type BusMessage } from '@parley/bus';
import { createLogger } from '@parley/observability';
import type { PresenceConnection, PresenceStore } from '@parley/presence-store';
import { createRedisPresenceStore, PRESENCE_REDIS_OPTIONS } from '@parley/presence-store/redis';
import { fromSubjectToken } from '@parley/protocol';
import { startRedis, type ServerProcess } from '@parley/testkit';
import { createSweeper, type Sweeper } from '../src/index.ts';
import { eventually } from './support.ts';

const TTL_MS = 600;
const SWEEP_MS = 100;
const logger = createLogger('presence-test', { level: 'silent' });

describe('presence sweeper', () => {
  let redis: ServerProcess;
  const stores: PresenceStore[] = [];
  const store = () => {
    const s = createRedisPresenceStore(new Redis(redis.url, PRESENCE_REDIS_OPTIONS), { ttlMs: TTL_MS });
    stores.push(s);
    return s;
  };
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await redis?.stop();
  });

  it('presence sweeper - leaves of a dead gateway are announced exactly once by two replicas', async () => {
    const bus = createMemoryBus();
    const received: Array<{ subject: string; frame: any; origin: string | undefined }> = [];
    bus.subscribe('presence.>', (m: BusMessage) => received.push({ subject: m.subject, frame: JSON.parse(new TextDecoder().decode(m.data)), origin: m.headers[HEADER_ORIGIN] }));

    const live = store();
    const dead = store();
    const liveConns: PresenceConnection[] = [
      { ns: 'acme', room: 'lobby', user: 'ann', conn: 'live-ann', gateway: 'live' },
      { ns: 'acme', room: 'lobby', user: 'dora', conn: 'live-dora', gateway: 'live' },
    ];
    const deadConns: PresenceConnection[] = [
      // ann keeps a live tab elsewhere: no leave for her.
      { ns: 'acme', room: 'lobby', user: 'ann', conn: 'dead-ann', gateway: 'dead' },
      { ns: 'acme', room: 'lobby', user: 'bob', conn: 'dead-bob-1', gateway: 'dead' },
      { ns: 'acme', room: 'lobby', user: 'bob', conn: 'dead-bob-2', gateway: 'dead' },
      { ns: 'acme', room: 'a.b *>', user: 'bob', conn: 'dead-bob-3', gateway: 'dead' },
      { ns: 'globex', room: 'lobby', user: 'cy', conn: 'dead-cy', gateway: 'dead' },
    ];
    for (const c of [...liveConns, ...deadConns]) await (c.gateway === 'live' ? live : dead).add(c);

    // The live gateway keeps beating; the dead one stopped (SIGKILL) right after its adds.
    const beat = setInterval(() => void live.heartbeat(liveConns).catch(() => {}), TTL_MS / 4);
    const registries = [new Registry(), new Registry()];
    const sweepers: Sweeper[] = registries.map((registry, i) =>
      createSweeper({ store: store(), bus, logger, registry }, { intervalMs: SWEEP_MS, originId: `presence-${i}` }),
    );
    const killedAt = Date.now();
    try {
      for (const s of sweepers) s.start();
      await eventually(() => received.length >= 3, TTL_MS + 2 * SWEEP_MS + 2000, 'three leaves');
      expect(Date.now() - killedAt).toBeLessThan(TTL_MS + 2 * SWEEP_MS + 1000);
      // Let both replicas run more passes, then make sure nothing more was announced.
      for (const s of sweepers) await s.runOnce();
      await new Promise((r) => setImmediate(r));
      const leaves = received.map((r) => `${r.subject.split('.')[1]}/${fromSubjectToken(r.subject.split('.')[2]!)}/${r.frame.user}`).sort();
      expect(leaves).toEqual(['acme/a.b *>/bob', 'acme/lobby/bob', 'globex/lobby/cy']);
      for (const r of received) {
        expect(r.frame).toEqual({ type: 'presence.leave', room: fromSubjectToken(r.subject.split('.')[2]!), user: r.frame.user });
        expect(r.origin).toMatch(/^presence-[01]$/);
      }
      expect((await live.members('acme', 'lobby')).map((m) => m.user).sort()).toEqual(['ann', 'dora']);
      const swept = await Promise.all(registries.map(async (r) => (await r.getSingleMetric('parley_presence_swept_connections_total')!.get()).values[0]?.value ?? 0));
      expect(swept[0]! + swept[1]!).toBe(deadConns.length);
    } finally {
      clearInterval(beat);
      await Promise.all(sweepers.map((s) => s.stop()));
      for (const c of liveConns) await live.remove(c);
    }
  });

  it('presence sweeper - leaves the bus refused are published on a later pass', async () => {
    const bus = createMemoryBus();
    const received: string[] = [];
    bus.subscribe('presence.>', (m) => received.push(JSON.parse(new TextDecoder().decode(m.data)).user));
    const roomEvents: unknown[] = [];
    bus.subscribe('events.>', (m) => roomEvents.push(...(JSON.parse(new TextDecoder().decode(m.data)) as { events: unknown[] }).events));
    const gateway = store();
    await gateway.add({ ns: 'initech', room: 'r', user: 'peter', conn: 'p1', gateway: 'dead' });
    const registry = new Registry();
    const sweeper = createSweeper({ store: store(), bus, logger, registry }, { intervalMs: SWEEP_MS });
    await eventually(async () => (await gateway.count('initech', 'r')).connections === 0, TTL_MS + 1000, 'expiry');
    bus.disconnectForTest(true);
    expect(await sweeper.runOnce()).toEqual([]);
    expect((await registry.getSingleMetric('parley_presence_leaves_pending')!.get()).values[0]?.value).toBe(1);
    bus.disconnectForTest(false);
    expect(await sweeper.runOnce()).toEqual([{ ns: 'initech', room: 'r', user: 'peter', lastForRoom: true, lastForTenant: true }]);
    await new Promise((r) => setImmediate(r));
    expect(received).toEqual(['peter']);
    // The room events for tenant backends (webhooks): the member left, with it its last room (offline), and the room emptied.
    expect(roomEvents).toEqual([{ type: 'member.left', room: 'r', user: 'peter' }, { type: 'user.offline', room: 'r', user: 'peter' }, { type: 'room.vacated', room: 'r' }]);
  });
});
