import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PresenceStore } from '@parley/presence-store';

export type PresenceMetrics = ReturnType<typeof build>;

const byRegistry = new WeakMap<Registry, PresenceMetrics>();

/**
 * The presence service's metrics, once per registry (the app and the sweeper share them).
 * Labels are bounded: tenant at most, never rooms or users. The per-tenant gauges are read from
 * the store on scrape and are global (every replica reports the same values): aggregate them
 * with `max by (tenant)`, not `sum`.
 */
export function createPresenceMetrics(registry: Registry, store?: PresenceStore): PresenceMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) byRegistry.set(registry, (metrics = build(registry)));
  if (store) metrics.bindStore(store);
  return metrics;
}

function build(registry: Registry) {
  const registers = [registry];
  let store: PresenceStore | undefined;
  const redisErrors = new Counter({ name: 'parley_presence_redis_errors_total', help: 'Presence store (Redis) operations that failed', registers });
  const redisUp = new Gauge({ name: 'parley_presence_redis_up', help: '1 when the presence store answered its last call, 0 when it failed', registers });

  // One read of the store per scrape feeds both gauges.
  let snapshot: Promise<Map<string, { users: number; connections: number }> | undefined> | undefined;
  const read = () =>
    (snapshot ??= (async () => {
      try {
        if (!store?.stats) return undefined;
        const stats = await store.stats();
        return new Map(stats.map((s) => [s.ns, s]));
      } catch {
        redisErrors.inc();
        redisUp.set(0);
        return undefined;
      } finally {
        setImmediate(() => (snapshot = undefined));
      }
    })());
  const tenantGauge = (name: string, help: string, field: 'users' | 'connections') =>
    new Gauge({
      name,
      help,
      labelNames: ['tenant'],
      registers,
      async collect() {
        const stats = await read();
        // On a failed read the previous values stay: a gap is worse than a stale point.
        if (!stats) return;
        this.reset();
        for (const [tenant, s] of stats) this.set({ tenant }, s[field]);
      },
    });

  return {
    onlineUsers: tenantGauge('parley_presence_online_users', 'Distinct users present in at least one room, per tenant (global, from the store)', 'users'),
    connections: tenantGauge('parley_presence_connections', 'Distinct connections present in at least one room, per tenant (global, from the store)', 'connections'),
    sweeps: new Counter({ name: 'parley_presence_sweeps_total', help: 'Sweep passes, by result', labelNames: ['result'], registers }),
    sweptConnections: new Counter({ name: 'parley_presence_swept_connections_total', help: 'Expired connection entries deleted by sweeps', registers }),
    leavesPublished: new Counter({ name: 'parley_presence_leaves_published_total', help: 'presence.leave events published by the sweeper', registers }),
    leavesPending: new Gauge({ name: 'parley_presence_leaves_pending', help: 'Swept leaves waiting for the bus to accept them', registers }),
    sweepDuration: new Histogram({ name: 'parley_presence_sweep_duration_seconds', help: 'Duration of sweep passes', buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10], registers }),
    redisUp,
    redisErrors,
    userTokenFailures: new Counter({
      name: 'parley_presence_user_token_failures_total',
      help: 'User tokens refused (bad signature, expired, malformed), and refusals while an address is rate limited',
      registers,
    }),
    requests: new Counter({ name: 'parley_presence_http_requests_total', help: 'Presence API requests, by route and status', labelNames: ['route', 'status'], registers }),
    bindStore(s: PresenceStore) {
      store = s;
    },
  };
}
