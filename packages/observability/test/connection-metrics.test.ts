import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '@parley/bus';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { startNats, startRedis, type NatsProcess, type ServerProcess } from '@parley/testkit';
import { createMetricsRegistry, parseExposition, registerBusMetrics, registerRedisMetrics, sumSamples } from '../src/index.ts';

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const scrape = async (registry: ReturnType<typeof createMetricsRegistry>) => parseExposition(await registry.metrics());

describe('connection metrics', () => {
  let nats: NatsProcess;
  let redis: ServerProcess;
  beforeAll(async () => {
    [nats, redis] = await Promise.all([startNats(), startRedis()]);
  });
  afterAll(async () => {
    await Promise.allSettled([nats.cleanup(), redis.stop()]);
  });

  it('connection metrics - the bus series follow a real NATS connection through an outage', async () => {
    const registry = createMetricsRegistry('gateway', { defaultMetrics: false });
    const bus: NatsBus = await createNatsBus({ servers: nats.url, name: 'metrics-test', reconnectWaitMs: 50, reconnectJitterMs: 50, connectTimeoutMs: 5_000 });
    try {
      registerBusMetrics(registry, bus);
      registerBusMetrics(registry, bus); // a second registration is ignored, not a crash
      const sub = bus.subscribe('chat.acme.x', () => {});
      await bus.publish('chat.acme.x', new Uint8Array([1]));
      await until(async () => sumSamples(await scrape(registry), 'parley_bus_delivered_total') === 1, 'delivery counted');
      let m = await scrape(registry);
      expect(sumSamples(m, 'parley_bus_connected')).toBe(1);
      expect(sumSamples(m, 'parley_bus_subscriptions')).toBe(1);
      expect(sumSamples(m, 'parley_bus_published_total')).toBe(1);
      expect(sumSamples(m, 'parley_bus_reconnects_total')).toBe(0);
      expect(m.samples.find((s) => s.name === 'parley_bus_connected')?.labels.service).toBe('gateway');

      await nats.restart();
      await until(async () => bus.state === 'connected' && sumSamples(await scrape(registry), 'parley_bus_reconnects_total') === 1, 'reconnect counted');
      m = await scrape(registry);
      expect(sumSamples(m, 'parley_bus_state_changes_total', { state: 'reconnecting' })).toBeGreaterThanOrEqual(1);
      expect(sumSamples(m, 'parley_bus_state_changes_total', { state: 'connected' })).toBe(1);
      expect(sumSamples(m, 'parley_bus_connected')).toBe(1);
      sub.unsubscribe();
      expect(sumSamples(await scrape(registry), 'parley_bus_subscriptions')).toBe(0);
    } finally {
      await bus.close();
    }
  });

  it('connection metrics - the in-memory bus exposes the same series, its counters at 0', async () => {
    const registry = createMetricsRegistry('parley', { defaultMetrics: false });
    registerBusMetrics(registry, createMemoryBus());
    const m = await scrape(registry);
    expect(sumSamples(m, 'parley_bus_connected')).toBe(1);
    expect(m.samples.filter((s) => s.name === 'parley_bus_reconnects_total')).toHaveLength(1);
  });

  it('connection metrics - the Redis series follow a real Redis connection through an outage', async () => {
    const registry = createMetricsRegistry('presence', { defaultMetrics: false });
    const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50, lazyConnect: true });
    try {
      registerRedisMetrics(registry, client, 'presence');
      const connected = async () => sumSamples(await scrape(registry), 'parley_redis_connected', { client: 'presence' });
      expect(await connected()).toBe(0);
      await client.connect();
      expect(await connected()).toBe(1);
      await redis.stop();
      await until(async () => (await connected()) === 0, 'disconnected');
      // Every failed reconnect attempt is an error event.
      await until(async () => sumSamples(await scrape(registry), 'parley_redis_errors_total', { client: 'presence' }) >= 1, 'errors counted');
      await redis.restart();
      await until(async () => (await connected()) === 1, 'reconnected');
      const m = await scrape(registry);
      expect(sumSamples(m, 'parley_redis_reconnects_total', { client: 'presence' })).toBeGreaterThanOrEqual(1);
    } finally {
      client.disconnect();
    }
  });
});
