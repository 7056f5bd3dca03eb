import { Counter, Gauge, type Registry } from 'prom-client';

/** What `registerBusMetrics` reads from a bus (structurally a `@parley/bus` Bus or NatsBus). */
export interface MeteredBus {
  readonly state: string;
  subscriptionCount(): number;
  onStateChange(listener: (state: string) => void): () => void;
  /** Cumulative counters (NATS bus); absent on the in-memory bus, whose counters stay 0. */
  stats?(): { published: number; publishRejected: number; delivered: number; reconnects: number; handlerErrors: number };
}

/**
 * The `parley_bus_*` series of a service, read from its bus at scrape time (nothing is added to
 * the publish or delivery path). Register once per registry and bus; a second call on the same
 * registry is ignored. Returns a function that stops listening to state changes.
 */
export function registerBusMetrics(registry: Registry, bus: MeteredBus): () => void {
  if (registry.getSingleMetric('parley_bus_connected')) return () => {};
  const registers = [registry];
  new Gauge({
    name: 'parley_bus_connected',
    help: '1 when the message bus (NATS) is connected, else 0',
    registers,
    collect() {
      this.set(bus.state === 'connected' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'parley_bus_subscriptions',
    help: 'Live bus subscriptions held by this process',
    registers,
    collect() {
      this.set(bus.subscriptionCount());
    },
  });
  const fromStats = (name: string, help: string, read: (s: NonNullable<ReturnType<NonNullable<MeteredBus['stats']>>>) => number) => {
    let last = 0;
    new Counter({
      name,
      help,
      registers,
      collect() {
        if (!bus.stats) return;
        const value = read(bus.stats());
        if (value > last) this.inc(value - last);
        last = value;
      },
    });
  };
  fromStats('parley_bus_published_total', 'Messages written to the bus', (s) => s.published);
  fromStats('parley_bus_publish_rejected_total', 'Publishes the bus refused or could not confirm (not connected, flush failed or timed out)', (s) => s.publishRejected);
  fromStats('parley_bus_delivered_total', 'Bus messages handed to this process’s subscription handlers', (s) => s.delivered);
  fromStats('parley_bus_reconnects_total', 'Successful reconnects of the bus connection', (s) => s.reconnects);
  fromStats('parley_bus_handler_errors_total', 'Subscription handlers that threw (logged; delivery goes on)', (s) => s.handlerErrors);
  const changes = new Counter({ name: 'parley_bus_state_changes_total', help: 'Bus state transitions, by new state', labelNames: ['state'], registers });
  return bus.onStateChange((state) => changes.inc({ state }));
}

/** What `registerRedisMetrics` reads from a Redis client (structurally an ioredis client). */
export interface MeteredRedis {
  readonly status: string;
  on(event: string, listener: () => void): unknown;
}

/**
 * `parley_redis_connected{client}`, `parley_redis_reconnects_total{client}` and
 * `parley_redis_errors_total{client}` for an ioredis client; `client` names its role
 * (`presence`, `tenant-store`), a fixed set. Several clients may share one registry.
 */
export function registerRedisMetrics(registry: Registry, redis: MeteredRedis, client: string): void {
  const registers = [registry];
  const connected =
    (registry.getSingleMetric('parley_redis_connected') as Gauge<'client'> | undefined) ??
    new Gauge({ name: 'parley_redis_connected', help: '1 when the Redis client is connected and ready, else 0', labelNames: ['client'], registers });
  const reconnects =
    (registry.getSingleMetric('parley_redis_reconnects_total') as Counter<'client'> | undefined) ??
    new Counter({ name: 'parley_redis_reconnects_total', help: 'Reconnect attempts of the Redis client', labelNames: ['client'], registers });
  const errors =
    (registry.getSingleMetric('parley_redis_errors_total') as Counter<'client'> | undefined) ??
    new Counter({ name: 'parley_redis_errors_total', help: 'Connection errors reported by the Redis client', labelNames: ['client'], registers });
  connected.set({ client }, redis.status === 'ready' ? 1 : 0);
  reconnects.inc({ client }, 0);
  errors.inc({ client }, 0);
  redis.on('ready', () => connected.set({ client }, 1));
  for (const event of ['close', 'end', 'reconnecting'] as const) redis.on(event, () => connected.set({ client }, 0));
  redis.on('reconnecting', () => reconnects.inc({ client }));
  // Listening also keeps ioredis from printing "Unhandled error event" on every failed attempt.
  redis.on('error', () => errors.inc({ client }));
}
