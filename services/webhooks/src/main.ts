import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { openBus } from '@parley/bus/open';
import { createLogger, createMetricsRegistry, registerBusMetrics, startMetricsServer } from '@parley/observability';
import { jetstream } from '@nats-io/jetstream';
import { subjects } from '@parley/protocol';
import { Gauge } from 'prom-client';
import {
  combineObservers,
  createDispatcher,
  createDispatchLease,
  createJetStreamEventSource,
  createKvEndpointStateStore,
  createKvEndpointStore,
  createMessageRecorder,
  createStateReporter,
  type Dispatcher,
} from '@parley/webhooks';
import { readWebhooksConfig } from './config.ts';
import { readFederationConfig, remoteHistoryRegion } from '@parley/federation';
import { createDispatcherObserver, createRecorderObserver } from './metrics.ts';

const config = readWebhooksConfig(process.env);
const logger = createLogger('webhooks', { level: config.logLevel });
const registry = createMetricsRegistry('webhooks');

const { bus, nats } = await openBus({ natsUrl: config.natsUrl, name: `webhooks-${config.instanceId}`, logger });
if (!nats) throw new Error('NATS_URL is required');
registerBusMetrics(registry, bus);
// Live: a watch keeps every endpoint in memory, so an event costs no request to read them.
// Federation: endpoints and their delivery state live in the history region's JetStream, shared by
// every region; each region's dispatchers deliver the events decided in their region.
const federation = readFederationConfig(process.env);
const sharedDomain = remoteHistoryRegion(federation);
const endpoints = await createKvEndpointStore(nats.raw, { replicas: config.streamReplicas, live: true, domain: sharedDomain });
// What this replica saw of each endpoint (last success, last failure, events in delivery), for `GET /v1/webhooks/{id}`.
const stateReporter = createStateReporter(await createKvEndpointStateStore(nats.raw, { replicas: config.streamReplicas, domain: sharedDomain }), config.instanceId, {
  onError: (error) => logger.warn({ err: (error as Error).message }, 'webhook endpoint state not written; retrying'),
});
const observer = combineObservers(createDispatcherObserver(registry, logger), stateReporter);
const newDispatcher = () =>
  createDispatcher({
    endpoints,
    policy: config.policy,
    retryPeriodMs: config.retryPeriodMs,
    backoffBaseMs: config.backoffBaseMs,
    backoffCapMs: config.backoffCapMs,
    timeoutMs: config.timeoutMs,
    endpointCacheMs: 0,
    observer,
  });
let dispatcher: Dispatcher | undefined;
const source = createJetStreamEventSource(nats.raw, { maxAgeMs: config.retryPeriodMs + 3600_000, maxBytes: config.streamMaxBytes, replicas: config.streamReplicas, ackWaitMs: config.ackWaitMs });
// One replica delivers at a time (one room's events stay in order); the others stand by.
const leading = new Gauge({ name: 'parley_webhook_leader', help: '1 on the dispatcher replica that delivers (holds the lease), 0 on a standby', registers: [registry] });
const lease = await createDispatchLease(nats.raw, config.instanceId, { replicas: config.streamReplicas, onChange: (on) => leading.set(on ? 1 : 0) });
leading.set(0);
await lease.start(
  async () => {
    logger.info('this replica delivers webhook events now (it holds the lease)');
    const current = (dispatcher = newDispatcher());
    await source.start((event) => current.handle(event));
  },
  async () => {
    logger.warn('this replica no longer holds the lease: it stops delivering (events in progress go to the next holder)');
    dispatcher?.stop();
    await source.stop();
  },
);
// message.published: the room messages of tenants that asked, recorded on the events stream (each
// message once across replicas: a queue group, and JetStream drops a repeated dedupe id).
const js = jetstream(nats.raw);
const messages = createMessageRecorder(
  endpoints,
  {
    subscribe(ns, handler) {
      const subscription = nats.raw.subscribe(subjects.allRooms(ns), { queue: 'parley-webhook-messages', callback: (error, msg) => {
          if (!error) handler(msg.data);
        },
      });
      return () => subscription.unsubscribe();
    },
    record: async (subject, payload, dedupeId) => void (await js.publish(subject, payload, { msgID: dedupeId })),
  },
  createRecorderObserver(registry, logger),
);
await messages.start();

const metricsServer = config.metricsPort === undefined ? undefined : await startMetricsServer({ host: config.host, port: config.metricsPort, registry });

let stopping = false;
const app = new Hono();
app.get('/healthz', (c) => c.json({ ok: true }));
app.get('/readyz', (c) => (stopping || bus.state !== 'connected' ? c.json({ ready: false, bus: bus.state }, 503) : c.json({ ready: true })));
app.get('/metrics', async (c) => c.text(await registry.metrics(), 200, { 'content-type': registry.contentType }));
const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
  logger.info({ port: info.port, ...config.policy, retryPeriodMs: config.retryPeriodMs }, `webhooks dispatcher listening on http://${config.host}:${info.port}`);
});

const shutdown = async (signal: NodeJS.Signals) => {
  if (stopping) process.exit(1);
  stopping = true;
  logger.info({ signal }, 'shutting down: events in progress are left unacknowledged and go to another dispatcher');
  await messages.stop();
  await lease.stop();
  await stateReporter.stop().catch(() => {});
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await metricsServer?.close();
  await Promise.allSettled([bus.close(), endpoints.close()]);
  process.exit(0);
};
process.on('SIGTERM', (s) => void shutdown(s));
process.on('SIGINT', (s) => void shutdown(s));
