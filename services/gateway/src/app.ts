import type { Bus } from '@parley/bus';
import type { HistoryStore } from '@parley/history';
import type { PresenceStore } from '@parley/presence-store';
import type { ModerationStore } from '@parley/moderation';
import type { JwksKeyGetter } from '@parley/tokens';
import { Counter, Gauge } from 'prom-client';
import { renderMetrics, startMetricsServer, type Logger, type MetricsServer, type Registry } from '@parley/observability';
import { createGatewayCore, type GatewayCore } from './domain/gateway-core.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './domain/limits.ts';
import type { TokenVerifier } from './domain/token-verifier.ts';
import { createGatewayMetrics } from './metrics.ts';
import { serveWithFetch, type FetchHandler } from './transport/http-bridge.ts';
import uws, { type us_listen_socket } from './transport/uws.ts';
import { createFanout, type CompressionMode } from './transport/compression.ts';
import { attachSseRoutes, createSseTopics } from './transport/sse-server.ts';
import { attachWebSocketRoute } from './transport/ws-server.ts';
import { createConnectionLifecycle } from './domain/connection.ts';
import { createMemoryTicketStore, type TicketStore } from './domain/connection-tickets.ts';
import { combineFanouts } from './domain/fanout.ts';
import type { GatewayEvents } from './domain/gateway-events.ts';

export interface GatewayDeps {
  bus: Bus;
  presence: PresenceStore;
  /**
   * Room history and resume for tenants whose tokens say `hist: true` (JetStream with NATS, the
   * memory store in one process). Without it such tenants get plain rooms and `history_unavailable`.
   */
  history?: HistoryStore;
  verifyToken: TokenVerifier;
  /** The key set behind `verifyToken`: readiness requires one (see `JwksKeyGetter`); absent = always has keys. */
  tokenKeys?: Pick<JwksKeyGetter, 'health' | 'ageSeconds' | 'failures'>;
  logger: Logger;
  registry: Registry;
  /** Hooks of features that plug in beside the sessions: connected, joined, left, published, closed (domain/gateway-events.ts). */
  events?: readonly GatewayEvents[];
  /** Bans, mutes, invites, roles and room settings: shared by every gateway and auth (Redis) in a cluster. @default one process's memory */
  moderation?: ModerationStore;
  /** Where SSE connection tickets live until used: shared by every gateway (Redis) in a cluster. @default one process's memory */
  tickets?: TicketStore;
  /** Serves every HTTP path the gateway does not own (single-process mode mounts auth, presence and the demo page here). */
  fallback?: FetchHandler;
}

export interface GatewayOptions {
  gatewayId: string;
  /** @default '0.0.0.0' */
  host?: string;
  /** @default 8080; 0 picks a free port. */
  port?: number;
  /** @default 65536: frames above this close the socket (uWS maxPayloadLength; also the inflate limit). */
  maxPayloadBytes?: number;
  /** @default 'off' (`PARLEY_WS_COMPRESSION`): permessage-deflate for no one, for tenants with `compression` on, or for every client that offers it. */
  compression?: CompressionMode;
  /** @default 1 MiB: a client whose unsent data exceeds this is closed as a slow consumer (4002). */
  maxBackpressureBytes?: number;
  /** @default 60: seconds without traffic before a socket is closed; pings are sent automatically before that. */
  idleTimeoutSeconds?: number;
  /** @default 10000: the drain grace period after SIGTERM before sockets close. */
  drainMs?: number;
  presenceHeartbeatMs?: number;
  floodCloseAfter?: number;
  /** @default 10000: most messages one resume replays; a client that missed more gets `history_gap` and the newest. */
  maxResumeMessages?: number;
  /** Tenant names in `/metrics` on the public port (`PARLEY_METRICS_TENANT_LABELS`). @default false */
  metricsTenantLabels?: boolean;
  /** A private port serving `/metrics` with every label (`PARLEY_METRICS_PORT`); none by default. */
  metricsPort?: number;
  /** @default 10000 (`PARLEY_MAX_REVOCATIONS_PER_TENANT`): revoked users (and token ids) remembered per tenant. */
  maxRevocationsPerTenant?: number;
  /** @default true: the SSE transport (`/v1/sse`) for clients whose network breaks WebSockets (`PARLEY_SSE`). */
  sse?: boolean;
  /** @default TICKET_TTL_MS (30 s): how long an SSE ticket may wait to be used. */
  sseTicketTtlMs?: number;
  /** @default SSE_RESUME_GRACE_MS (30 s): how long a lost SSE stream may be resumed with Last-Event-ID. */
  sseResumeGraceMs?: number;
}

export const DEFAULT_GATEWAY_PORT = 8080;
export const DEFAULT_DRAIN_MS = 10_000;

export interface Gateway {
  readonly core: GatewayCore;
  readonly port: number;
  readonly url: string;
  /** The private metrics port, once listening (when `metricsPort` was given). */
  readonly metricsPort: number | undefined;
  /** `degraded`: ready, but something is failing (history cannot be written). */
  ready(): { ok: boolean; reason?: string; degraded?: string };
  listen(): Promise<void>;
  /** Readiness false, clients told to reconnect, sockets closed after the grace period; then close(). */
  drain(graceMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Builds a gateway. Nothing listens until `listen()`. */
export function createGateway(deps: GatewayDeps, options: GatewayOptions): Gateway {
  const { bus, logger, registry } = deps;
  const host = options.host ?? '0.0.0.0';
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const compression = options.compression ?? 'off';
  const metrics = createGatewayMetrics(registry);
  const app = uws.App();
  const sse = options.sse ?? true;
  const sseTopics = createSseTopics();
  const core = createGatewayCore(
    { bus, presence: deps.presence, ...(deps.history && { history: deps.history }), ...(deps.events && { events: deps.events }), ...(deps.moderation && { moderation: deps.moderation }), verifyToken: deps.verifyToken, metrics, logger, fanout: combineFanouts(sse ? [createFanout(app, compression), sseTopics] : [createFanout(app, compression)]) },
    {
      gatewayId: options.gatewayId,
      maxPayloadBytes,
      ...(options.presenceHeartbeatMs !== undefined && { presenceHeartbeatMs: options.presenceHeartbeatMs }),
      ...(options.floodCloseAfter !== undefined && { floodCloseAfter: options.floodCloseAfter }),
      ...(options.maxResumeMessages !== undefined && { maxResumeMessages: options.maxResumeMessages }),
      ...(options.maxRevocationsPerTenant !== undefined && { maxRevocationsPerTenant: options.maxRevocationsPerTenant }),
    },
  );
  let listenSocket: us_listen_socket | undefined;
  let metricsServer: MetricsServer | undefined;
  let port = options.port ?? DEFAULT_GATEWAY_PORT;
  let closed = false;

  metrics.historyWritable.set(1);
  const { tokenKeys } = deps;
  if (tokenKeys) {
    new Gauge({
      name: 'parley_gateway_jwks_age_seconds',
      help: 'Age of the token key set this gateway verifies with (fetched from auth); -1 when none was fetched yet',
      registers: [registry],
      collect() {
        this.set(tokenKeys.ageSeconds() ?? -1);
      },
    });
    let counted = 0;
    new Counter({
      name: 'parley_gateway_jwks_fetch_failures_total',
      help: 'Failed fetches of the token key set (auth unreachable or answering garbage)',
      registers: [registry],
      collect() {
        const failures = tokenKeys.failures();
        if (failures > counted) this.inc(failures - counted);
        counted = failures;
      },
    });
  }
  metrics.busConnected.set(bus.state === 'connected' ? 1 : 0);
  const offState = bus.onStateChange((state) => {
    metrics.busConnected.set(state === 'connected' ? 1 : 0);
    metrics.busStateChanges.inc({ state });
    logger.info({ state }, 'bus state changed');
  });

  const ready = (): { ok: boolean; reason?: string; degraded?: string } => {
    if (closed) return { ok: false, reason: 'closed' };
    if (core.draining) return { ok: false, reason: 'draining' };
    if (bus.state !== 'connected') return { ok: false, reason: `bus ${bus.state}` };
    const keys = deps.tokenKeys?.health();
    if (keys && !keys.ok) return { ok: false, reason: keys.reason ?? 'cannot verify tokens' };
    const history = deps.history?.health();
    if (history && !history.ok) return { ok: false, reason: history.reason ?? 'history unavailable' };
    metrics.historyWritable.set(history?.degraded ? 0 : 1);
    // Still ready: refusing every new connection would not make history writable again.
    if (history?.degraded) return { ok: true, degraded: history.degraded };
    return { ok: true };
  };

  const lifecycle = createConnectionLifecycle({ core, verifyToken: deps.verifyToken, metrics, logger });
  const maxBackpressureBytes = options.maxBackpressureBytes ?? 1024 * 1024;
  attachWebSocketRoute(app, { lifecycle, metrics }, { path: '/v1/ws', maxPayloadBytes, maxBackpressureBytes, idleTimeoutSeconds: options.idleTimeoutSeconds ?? 60, compression });
  const sseRoutes = sse
    ? attachSseRoutes(
        app,
        { lifecycle, verifyToken: deps.verifyToken, tickets: deps.tickets ?? createMemoryTicketStore(), topics: sseTopics, bus, metrics, logger },
        {
          path: '/v1/sse',
          gatewayId: options.gatewayId,
          maxPayloadBytes,
          maxBackpressureBytes,
          ...(options.sseTicketTtlMs !== undefined && { ticketTtlMs: options.sseTicketTtlMs }),
          ...(options.sseResumeGraceMs !== undefined && { resumeGraceMs: options.sseResumeGraceMs }),
        },
      )
    : undefined;

  const json = (status: number, body: unknown): Response => Response.json(body, { status });
  const routes: FetchHandler = async (request) => {
    const path = new URL(request.url).pathname;
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      const r = ready();
      metrics.ready.set(r.ok ? 1 : 0);
      return r.ok ? json(200, { status: 'ready', ...(r.degraded && { degraded: r.degraded }) }) : json(503, { status: 'not ready', reason: r.reason });
    }
    if (path === '/metrics') {
      metrics.ready.set(ready().ok ? 1 : 0);
      return new Response(await renderMetrics(registry, { tenantLabels: options.metricsTenantLabels ?? false }), { headers: { 'content-type': registry.contentType } });
    }
    if (deps.fallback) return deps.fallback(request);
    return json(404, { code: 'not_found', message: 'not found', temporary: false });
  };
  app.any('/*', (res, req) => serveWithFetch(res, req, routes, { host }));

  const gateway: Gateway = {
    core,
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    ready,
    listen() {
      return new Promise<void>((resolve, reject) => {
        app.listen(host, port, (socket) => {
          if (!socket) return reject(new Error(`gateway could not listen on ${host}:${port}`));
          listenSocket = socket;
          port = uws.us_socket_local_port(socket as never);
          resolve();
        });
      }).then(async () => {
        if (options.metricsPort === undefined) return;
        metricsServer = await startMetricsServer({ host, port: options.metricsPort, registry, beforeScrape: () => metrics.ready.set(ready().ok ? 1 : 0) });
      });
    },
    get metricsPort() {
      return metricsServer?.port;
    },
    async drain(graceMs = options.drainMs ?? DEFAULT_DRAIN_MS) {
      metrics.ready.set(0);
      const closeAll = core.drain(Math.min(1000, graceMs / 2));
      logger.info({ sessions: core.sessionCount(), graceMs }, 'draining');
      if (core.sessionCount() > 0) await new Promise((r) => setTimeout(r, graceMs));
      closeAll();
      await gateway.close();
    },
    async close() {
      if (closed) return;
      closed = true;
      offState();
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = undefined;
      sseRoutes?.close();
      await core.close();
      await metricsServer?.close();
      app.close();
    },
  };
  return gateway;
}
