import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { ParleyError, subjects } from '@parley/protocol';
import { createMemoryBus, createTracedBus } from '@parley/bus';
import { createLogger, createMetricsRegistry, initTracing, registerBusMetrics, type Logger, type TracingOptions } from '@parley/observability';
import { createMemoryHistoryStore } from '@parley/history';
import { createFileModerationStore } from '@parley/moderation/file';
import { createMemoryPresenceStore } from '@parley/presence-store';
import { createAuthApp, createFileTenantStore, ensureDemoTenant, loadSigningKeys } from '@parley/auth';
import { createGateway, createTokenVerifier, remoteAddressOf, type FetchHandler, type Gateway } from '@parley/gateway';
import { createPresenceApp, createSweeper, createUserTokenVerifier } from '@parley/presence';
import {
  combineObservers,
  createBusEventSource,
  createDispatcher,
  createFileEndpointStore,
  createMemoryEndpointStateStore,
  createMessageRecorder,
  createStateReporter,
  STRICT_URL_POLICY,
  type UrlPolicy,
} from '@parley/webhooks';
import { createDispatcherObserver, createRecorderObserver } from '@parley/webhooks-dispatcher';
import { createDemoRoutes } from './demo.ts';

export interface EmbeddedOptions {
  host?: string;
  /** @default 8080; 0 picks a free port */
  port?: number;
  dataDir: string;
  demoNamespace?: string;
  demoApiKey?: string;
  adminToken?: string;
  /** A newly created demo tenant keeps history. @default true */
  demoHistory?: boolean;
  /** Serve the demo page and `/demo/token`. @default true */
  demoPage?: boolean;
  drainMs?: number;
  logger?: Logger;
  /** Tenant names in `/metrics` on the public port (`PARLEY_METRICS_TENANT_LABELS`). @default false */
  metricsTenantLabels?: boolean;
  /** A private port serving `/metrics` with every label (`PARLEY_METRICS_PORT`). */
  metricsPort?: number;
  /** Live user revocations per tenant (auth refuses more; the gateway remembers as many). @default 10000 */
  maxRevocationsPerTenant?: number;
  /** permessage-deflate (`PARLEY_WS_COMPRESSION`): off, for tenants with `compression` on, or for every client that offers it. @default 'off' */
  wsCompression?: 'off' | 'tenant' | 'on';
  /** OpenTelemetry tracing (`readTracingConfig(process.env)`); off when it has no endpoint or exporter. */
  tracing?: TracingOptions;
  /** Which webhook URLs tenants may register and the dispatcher may call. @default https to public addresses only */
  webhookPolicy?: UrlPolicy;
}

export interface Embedded {
  gateway: Gateway;
  url: string;
  demoApiKey: string | undefined;
  demoApiKeyGenerated: boolean;
  demoApiKeyFile: string | undefined;
  close(): Promise<void>;
  drain(): Promise<void>;
}

/**
 * Parley in one process on one port: the gateway (WebSockets, health, metrics) with the auth API,
 * the presence API and the demo page mounted behind it, all on the in-memory bus and presence store and a
 * file-backed tenant store. It does not scale beyond this process; `npm run cluster` does.
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<Embedded> {
  const logger = options.logger ?? createLogger('parley');
  const registry = createMetricsRegistry('parley');
  const tracing = await initTracing('parley', options.tracing);
  const memoryBus = createMemoryBus({ logger });
  registerBusMetrics(registry, memoryBus);
  const bus = createTracedBus(memoryBus, { tracer: tracing.tracer });
  const presence = createMemoryPresenceStore();
  // Given the bus, it also stores server-side publishes to rooms of tenants with history.
  const history = createMemoryHistoryStore({ bus: memoryBus });
  const store = await createFileTenantStore({ dataDir: options.dataDir });
  // Bans, mutes, room settings and the audit log, kept in the data directory; auth writes them, the gateway enforces them.
  const moderation = await createFileModerationStore(options.dataDir);
  const keys = await loadSigningKeys({ dataDir: options.dataDir });
  const demoNamespace = options.demoNamespace ?? 'demo';
  // The demo tenant keeps history, so the demo page shows recent messages and loses none across restarts of a client.
  const demo = await ensureDemoTenant(store, {
    namespace: demoNamespace,
    dataDir: options.dataDir,
    settings: { history: { enabled: options.demoHistory ?? true } },
    ...(options.demoApiKey && { apiKey: options.demoApiKey }),
  });

  // Webhooks: endpoints in the data directory, events straight from the in-memory bus (not recorded: see docs/operations.md).
  const webhookPolicy = options.webhookPolicy ?? STRICT_URL_POLICY;
  const webhookEndpoints = await createFileEndpointStore(options.dataDir);
  const webhookStates = createMemoryEndpointStateStore();
  const stateReporter = createStateReporter(webhookStates, 'embedded');
  const dispatcher = createDispatcher({
    endpoints: webhookEndpoints,
    policy: webhookPolicy,
    observer: combineObservers(stateReporter, createDispatcherObserver(registry, logger.child({ component: 'webhooks' }))),
  });
  const webhookEvents = createBusEventSource(memoryBus);
  await webhookEvents.start((event) => dispatcher.handle(event));
  // message.published for the tenants that asked: room messages become room events on the bus.
  const messageRecorder = createMessageRecorder(
    webhookEndpoints,
    {
      subscribe(ns, handler) {
        const subscription = memoryBus.subscribe(subjects.allRooms(ns), (message) => handler(message.data));
        return () => subscription.unsubscribe();
      },
      record: (subject, payload) => memoryBus.publish(subject, payload),
    },
    createRecorderObserver(registry, logger.child({ component: 'webhooks' })),
  );
  await messageRecorder.start();

  const auth = createAuthApp(
    {
      store,
      keys,
      bus,
      logger: logger.child({ component: 'auth' }),
      metrics: registry,
      ...(tracing.tracer && { tracer: tracing.tracer }),
      webhooks: { endpoints: webhookEndpoints, policy: webhookPolicy, states: webhookStates },
      moderation: { store: moderation, deleteStored: (ns, room, seq) => history.delete(ns, room, seq) },
    },
    {
      ...(options.adminToken && { adminToken: options.adminToken }),
      getClientIp: (c) => remoteAddressOf(c.req.raw) ?? 'unknown',
      ...(options.maxRevocationsPerTenant !== undefined && { maxRevocationsPerTenant: options.maxRevocationsPerTenant }),
    },
  );
  let jwksCache: { source: JSONWebKeySet; get: ReturnType<typeof createLocalJWKSet> } | undefined;
  const getKey: Parameters<typeof createTokenVerifier>[0] = (header, token) => {
    const source = auth.jwks();
    if (jwksCache?.source !== source) jwksCache = { source, get: createLocalJWKSet(source) };
    return jwksCache.get(header, token);
  };
  const demoRoutes = options.demoPage === false || !demo.apiKey
    ? undefined
    : createDemoRoutes((body) =>
        Promise.resolve(auth.app.fetch(new Request('http://parley.internal/v1/tokens', {
          method: 'POST',
          headers: { authorization: `Bearer ${demo.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }))),
      );
  // The presence API on the in-memory store; API keys are checked by the auth app in-process.
  const presenceApi = createPresenceApp({
    store: presence,
    bus,
    // The in-process key check carries the client's address, so auth's failed-credential limiter
    // counts the client, not this process.
    verifyApiKey: async (apiKey, clientIp) => {
      const request = new Request('http://parley.internal/v1/whoami', { headers: { authorization: `Bearer ${apiKey}` } });
      Object.defineProperty(request, 'remoteAddress', { value: clientIp });
      const res = await auth.app.fetch(request);
      if (res.status === 429) throw new ParleyError('rate_limited', 'too many failed credential attempts from this address; retry later');
      return res.ok ? { ns: ((await res.json()) as { ns: string }).ns } : null;
    },
    verifyUserToken: createUserTokenVerifier(getKey),
    logger: logger.child({ component: 'presence' }),
    registry,
    ...(tracing.tracer && { tracer: tracing.tracer }),
  }, { getClientIp: (c) => remoteAddressOf(c.req.raw) ?? 'unknown' });
  const sweeper = createSweeper({ store: presence, bus, logger: logger.child({ component: 'presence' }), registry }, { originId: 'embedded' });
  sweeper.start();
  const isPresenceRoute = (request: Request) =>
    request.method === 'GET' && /^\/v1\/(rooms\/[^/]+\/(members|count)|users\/[^/]+\/rooms)$/.test(new URL(request.url).pathname);
  const fallback: FetchHandler = async (request) =>
    (await demoRoutes?.(request)) ?? (isPresenceRoute(request) ? presenceApi.app.fetch(request) : auth.app.fetch(request));

  const gateway = createGateway(
    { bus, presence, history, moderation, verifyToken: createTokenVerifier(getKey), logger: logger.child({ component: 'gateway' }), registry, fallback },
    { gatewayId: 'embedded', host: options.host ?? '0.0.0.0', port: options.port ?? 8080, ...(options.drainMs !== undefined && { drainMs: options.drainMs }),
      ...(options.maxRevocationsPerTenant !== undefined && { maxRevocationsPerTenant: options.maxRevocationsPerTenant }),
      ...(options.wsCompression !== undefined && { compression: options.wsCompression }),
      ...(options.metricsTenantLabels !== undefined && { metricsTenantLabels: options.metricsTenantLabels }),
      ...(options.metricsPort !== undefined && { metricsPort: options.metricsPort }),
    },
  );
  await gateway.listen();

  const close = async () => {
    await sweeper.stop();
    await messageRecorder.stop();
    dispatcher.stop();
    await webhookEvents.stop();
    await stateReporter.stop();
    await gateway.close();
    await Promise.all([auth.close(), presenceApi.close()]);
    await Promise.allSettled([history.close(), bus.close(), presence.close(), store.close(), webhookEndpoints.close(), moderation.close()]);
    await tracing.shutdown();
  };
  return {
    gateway,
    url: `http://localhost:${gateway.port}`,
    demoApiKey: demo.apiKey,
    demoApiKeyGenerated: demo.keyCreated && !options.demoApiKey,
    demoApiKeyFile: demo.apiKeyFile,
    close,
    async drain() {
      await gateway.drain();
      await close();
    },
  };
}
