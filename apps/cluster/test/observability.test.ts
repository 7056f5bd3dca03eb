import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../embedded/src/embedded.ts';
import { createLogger, parseExposition, seriesNames, sumSamples, type Exposition } from '@parley/observability';
import { subjects } from '@parley/protocol';
import { connectClient, waitForNatsSubscriptions, type TestClient } from '@parley/testkit';
import { OTLP_KIND, startOtlpCollector } from '../../../packages/observability/test/support/otlp-collector.ts';
import { REPO_ROOT, generateDemoApiKey, startCluster, type Cluster } from '../src/index.ts';

/**
 * Observability of a running Parley: the scripted run of issue 8 (connect, join, publish, a
 * refused token, a rate-limit hit) against the multi-process cluster and the single process,
 * then `/metrics` of every service, the dashboards and alert rules against those expositions,
 * and the logs against the secrets that went through.
 */

const ROOM = 'lobby';
const GRANTS = { '*': ['subscribe', 'publish', 'presence'] };
const DASHBOARDS = join(REPO_ROOT, 'deploy/helm/parley/dashboards');
const RULES = join(REPO_ROOT, 'deploy/helm/parley/rules');
const METRICS_DOC = join(REPO_ROOT, 'docs/metrics.md');
/** Process and runtime metrics of prom-client's default collectors (`parley_` prefix). */
const DEFAULT_METRIC = /^parley_(process|nodejs)_/;

/** What the scripted run needs from a deployment, cluster or single process. */
interface Deployment {
  namespace: string;
  apiKey: string;
  authUrl: string;
  /** Two gateways (the same one twice in single-process mode). */
  gateways: [string, string];
  /** `/metrics` base URL by service name. */
  services: Record<string, string>;
  /** Resolves once the second gateway's room subscription is active on the bus. */
  subscribed(room: string): Promise<void>;
}

interface RunResult {
  tokens: string[];
  /** Id of the room message published on the first gateway. */
  msgId: string;
  /** The expositions scraped right after the run, by service. */
  metrics: Record<string, Exposition>;
}

const ws = (httpUrl: string) => `${httpUrl.replace('http', 'ws')}/v1/ws`;

async function mint(d: Deployment, user: string, apiKey = d.apiKey): Promise<Response> {
  return fetch(`${d.authUrl}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user, grants: GRANTS }),
  });
}

async function scrape(d: Deployment): Promise<Record<string, Exposition>> {
  const entries = await Promise.all(
    Object.entries(d.services).map(async ([service, url]) => {
      const res = await fetch(`${url}/metrics`);
      expect(res.status, `${service} /metrics`).toBe(200);
      return [service, parseExposition(await res.text())] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/** Connect, join, publish across gateways, a refused token (at auth and at a gateway), a rate-limit hit. */
async function scriptedRun(d: Deployment): Promise<RunResult> {
  const tokens: string[] = [];
  const clients: TestClient[] = [];
  try {
    for (const user of ['alice', 'bob']) {
      const res = await mint(d, user);
      expect(res.status).toBe(200);
      tokens.push(((await res.json()) as { token: string }).token);
    }
    const refusedMint = await mint(d, 'mallory', generateDemoApiKey(d.namespace));
    expect(refusedMint.status).toBe(401);

    const [alice, bob] = await Promise.all(
      tokens.map(async (token, i) => {
        const client = await connectClient(ws(d.gateways[i] as string), { token });
        clients.push(client);
        await client.waitFor('welcome');
        expect((await client.request({ type: 'join', room: ROOM })).type).toBe('joined');
        return client;
      }),
    ) as [TestClient, TestClient];
    await d.subscribed(ROOM);

    const ack = await alice.request({ type: 'publish', room: ROOM, data: { text: 'hello' } });
    expect(ack.type).toBe('ack');
    await bob.waitFor((f) => f.type === 'message' && f.msgId === ack.msgId);

    // A forged token: refused at the handshake with an error frame and a close code.
    const forged = await connectClient(ws(d.gateways[0]), { token: `${tokens[0]?.slice(0, -4)}AAAA` });
    clients.push(forged);
    expect((await forged.waitFor('error')).code).toBe('token_invalid');
    await forged.closed;

    // More frames than the bucket holds (burst 40 by default): some are refused as rate limited.
    for (let i = 0; i < 80; i++) alice.send({ type: 'leave', room: 'nowhere', id: `flood-${i}` });
    await alice.waitFor((f) => f.type === 'error' && f.code === 'rate_limited');
    await alice.waitFor((f) => f.id === 'flood-79');

    return { tokens, msgId: String(ack.msgId), metrics: await scrape(d) };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** Sum of a series over every service's exposition. */
const total = (metrics: Record<string, Exposition>, name: string, labels: Record<string, string> = {}) =>
  Object.values(metrics).reduce((sum, m) => sum + sumSamples(m, name, labels), 0);

function expectGatewaySeries(metrics: Record<string, Exposition>, ns: string) {
  expect(total(metrics, 'parley_gateway_connections', { tenant: ns })).toBe(2);
  expect(total(metrics, 'parley_gateway_connections_opened_total', { tenant: ns })).toBe(2);
  expect(total(metrics, 'parley_gateway_connections_refused_total', { code: 'token_invalid' })).toBe(1);
  expect(total(metrics, 'parley_gateway_frames_received_total', { type: 'join' })).toBe(2);
  expect(total(metrics, 'parley_gateway_frames_received_total', { type: 'publish' })).toBe(1);
  expect(total(metrics, 'parley_gateway_frames_received_total', { type: 'leave' })).toBe(80);
  expect(total(metrics, 'parley_gateway_received_bytes_total')).toBeGreaterThan(80 * 30);
  expect(total(metrics, 'parley_gateway_frames_sent_total', { type: 'ack' })).toBeGreaterThanOrEqual(1);
  expect(total(metrics, 'parley_gateway_messages_published_total', { tenant: ns, kind: 'room' })).toBe(1);
  expect(total(metrics, 'parley_gateway_rate_limited_total', { tenant: ns })).toBeGreaterThanOrEqual(1);
  const limited = total(metrics, 'parley_gateway_rate_limited_total', { tenant: ns });
  expect(total(metrics, 'parley_gateway_errors_total', { code: 'rate_limited' })).toBe(limited);
  expect(total(metrics, 'parley_gateway_errors_total', { code: 'not_joined' })).toBe(80 - limited);
  expect(total(metrics, 'parley_gateway_bus_deliveries_total', { kind: 'room' })).toBeGreaterThanOrEqual(1);
  expect(total(metrics, 'parley_gateway_delivery_latency_seconds_count')).toBeGreaterThanOrEqual(1);
  expect(total(metrics, 'parley_gateway_slow_consumer_closes_total')).toBe(0);
  expect(total(metrics, 'parley_gateway_sent_bytes_total')).toBeGreaterThan(0);
  expect(total(metrics, 'parley_gateway_bus_delivered_bytes_total', { kind: 'room' })).toBeGreaterThan(0);
  expect(total(metrics, 'parley_auth_tokens_minted_total', { tenant: ns })).toBe(2);
  expect(total(metrics, 'parley_auth_token_refusals_total', { reason: 'unauthorized' })).toBe(1);
}

/** Metrics documented outside the federation section (a single installation exposes those; the `--regions` test checks the rest). */
function readDocumentedMetrics(): Set<string> {
  const federation = federationMetrics();
  return new Set([...readFileSync(METRICS_DOC, 'utf8').matchAll(/`(parley_[a-z0-9_]+)`/g)].map((m) => m[1] as string).filter((name) => !federation.has(name)));
}

function federationMetrics(): Set<string> {
  const doc = readFileSync(METRICS_DOC, 'utf8');
  const section = doc.slice(doc.indexOf('## Federation'), doc.indexOf('\n## ', doc.indexOf('## Federation') + 1));
  return new Set([...section.matchAll(/`(parley_[a-z0-9_]+)`/g)].map((m) => m[1] as string));
}

interface Dashboard {
  uid?: string;
  title?: string;
  panels?: Array<{ title?: string; type?: string; targets?: Array<{ expr?: string }>; datasource?: unknown; panels?: unknown[] }>;
  templating?: { list?: Array<{ name?: string; type?: string; query?: unknown; definition?: string }> };
}

/** Every `parley_*` name in every PromQL expression of the dashboards and alert rules, by file. */
function queriedMetrics(): Map<string, Set<string>> {
  const byFile = new Map<string, Set<string>>();
  const names = (text: string) => [...text.matchAll(/\bparley_[a-zA-Z0-9_]+/g)].map((m) => m[0]);
  for (const file of readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))) {
    const dashboard = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as Dashboard;
    const exprs: string[] = [];
    for (const panel of dashboard.panels ?? []) for (const t of panel.targets ?? []) if (t.expr) exprs.push(t.expr);
    for (const v of dashboard.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      exprs.push(typeof v.query === 'string' ? v.query : JSON.stringify(v.query ?? ''), v.definition ?? '');
    }
    byFile.set(file, new Set(exprs.flatMap(names)));
  }
  for (const file of readdirSync(RULES).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))) {
    // The whole file: expressions, and any metric a description or comment names, must exist.
    byFile.set(file, new Set(names(readFileSync(join(RULES, file), 'utf8'))));
  }
  return byFile;
}

describe('observability - cluster', () => {
  let cluster: Cluster;
  let deployment: Deployment;
  let run: RunResult;
  let collector: Awaited<ReturnType<typeof startOtlpCollector>>;
  let stopped: Promise<void> | undefined;
  /** Stopping flushes every process's log file and exports its buffered spans. */
  const stop = () => (stopped ??= cluster.stop());
  const logDir = mkdtempSync(join(tmpdir(), 'parley-observability-'));

  beforeAll(async () => {
    collector = await startOtlpCollector();
    // Tracing on, exported to a local OTLP receiver. Debug level: the most a service ever logs must still hold no secret.
    cluster = await startCluster({
      gateways: 2,
      output: logDir,
      // Tenant names in /metrics, as an operator turns them on for its Prometheus.
      env: { PARLEY_LOG_LEVEL: 'debug', PARLEY_DRAIN_MS: '0', OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, PARLEY_METRICS_TENANT_LABELS: 'true' },
    });
    const [g1, g2] = cluster.gateways as [NonNullable<Cluster['gateways'][0]>, NonNullable<Cluster['gateways'][0]>];
    deployment = {
      namespace: cluster.demoNamespace,
      apiKey: cluster.demoApiKey,
      authUrl: cluster.auth.url,
      gateways: [g1.url, g2.url],
      services: { 'gateway-1': g1.url, 'gateway-2': g2.url, auth: cluster.auth.url, presence: cluster.presence.url, webhooks: cluster.webhooks!.url },
      subscribed: async (room) => {
        const monitor = cluster.nats.monitorUrl as string;
        const subject = subjects.room(cluster.demoNamespace, room);
        await waitForNatsSubscriptions(monitor, 'gateway-gateway-2', (subs) => subs.includes(subject));
      },
    };
    run = await scriptedRun(deployment);
  }, 90_000);

  afterAll(async () => {
    if (cluster) await stop();
    await collector?.close();
    rmSync(logDir, { recursive: true, force: true });
  });

  it('observability - after a scripted run every service exposes the documented series with the expected values', async () => {
    const m = run.metrics;
    const ns = cluster.demoNamespace;
    expectGatewaySeries(m, ns);
    // Each service exposes its own series, with its service label, on its own /metrics.
    const g1 = m['gateway-1'] as Exposition;
    const g2 = m['gateway-2'] as Exposition;
    const auth = m.auth as Exposition;
    const presence = m.presence as Exposition;
    expect(sumSamples(g1, 'parley_gateway_connections_refused_total', { code: 'token_invalid', service: 'gateway' })).toBe(1);
    expect(sumSamples(g1, 'parley_gateway_rate_limited_total', { tenant: ns })).toBeGreaterThanOrEqual(1);
    expect(sumSamples(g2, 'parley_gateway_delivery_latency_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sumSamples(auth, 'parley_auth_tokens_minted_total', { tenant: ns, service: 'auth' })).toBe(2);
    for (const [service, e] of Object.entries(m)) {
      expect(sumSamples(e, 'parley_bus_connected'), `${service} bus`).toBe(1);
      expect(sumSamples(e, 'parley_nodejs_eventloop_lag_p99_seconds'), `${service} event loop`).toBeGreaterThan(0);
      expect(sumSamples(e, 'parley_process_resident_memory_bytes'), `${service} memory`).toBeGreaterThan(0);
    }
    for (const e of [g1, g2]) {
      expect(sumSamples(e, 'parley_gateway_bus_connected')).toBe(1);
      expect(sumSamples(e, 'parley_gateway_ready')).toBe(1);
      expect(sumSamples(e, 'parley_gateway_rooms')).toBe(1);
      expect(sumSamples(e, 'parley_redis_connected', { client: 'presence' })).toBe(1);
      expect(sumSamples(e, 'parley_bus_subscriptions')).toBeGreaterThanOrEqual(3); // ctl.*, the room, its presence, the user
    }
    expect(sumSamples(presence, 'parley_redis_connected', { client: 'presence' })).toBe(1);
    expect(sumSamples(presence, 'parley_presence_redis_up')).toBe(1);
    // Presence sizes are read from the store: both users are in the room.
    expect(sumSamples(presence, 'parley_presence_online_users', { tenant: ns })).toBe(2);
    expect(sumSamples(presence, 'parley_presence_connections', { tenant: ns })).toBe(2);

    // Every documented metric is exposed by some service, and every exposed one is documented.
    const exposed = new Set(Object.values(m).flatMap((e) => [...seriesNames(e)]));
    const documented = readDocumentedMetrics();
    expect([...documented].filter((name) => !exposed.has(name)), 'documented but not exposed').toEqual([]);
    const families = new Set(Object.values(m).flatMap((e) => [...e.types.keys()]));
    expect([...families].filter((name) => !DEFAULT_METRIC.test(name) && !documented.has(name)), 'exposed but not documented').toEqual([]);

    // Connections that closed are counted by reason (the gateways see the closes asynchronously).
    const deadline = Date.now() + 5_000;
    let after = await scrape(deployment);
    while (total(after, 'parley_gateway_connections', { tenant: ns }) > 0 && Date.now() < deadline) after = await scrape(deployment);
    expect(total(after, 'parley_gateway_connections', { tenant: ns })).toBe(0);
    // The refused (forged-token) connection never had a session: it is counted as refused, not closed.
    expect(total(after, 'parley_gateway_connections_closed_total')).toBe(2);
  });

  it('observability - every metric used by a dashboard panel or an alert rule exists in the running cluster', async () => {
    const exposed = new Set(Object.values(run.metrics).flatMap((e) => [...seriesNames(e)]));
    const queried = queriedMetrics();
    expect([...queried.keys()].filter((f) => f.endsWith('.json')).length).toBeGreaterThanOrEqual(3);
    expect(queried.has('parley-alerts.yaml')).toBe(true);
    const missing: string[] = [];
    for (const [file, names] of queried) {
      if (file.endsWith('.json') || file === 'parley-alerts.yaml') expect(names.size, `${file} queries parley metrics`).toBeGreaterThan(0);
      for (const name of names) if (!exposed.has(name) && !federationMetrics().has(name)) missing.push(`${file}: ${name}`);
    }
    expect(missing).toEqual([]);
  });

  it('observability - logs of the cluster run contain no token and no API key', async () => {
    await stop();
    const logs = readdirSync(logDir).map((f) => readFileSync(join(logDir, f), 'utf8')).join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [...run.tokens, cluster.demoApiKey, cluster.adminToken]) expect(logs.includes(secret)).toBe(false);
    // Nor any fragment that identifies them: the signature part of a JWT, the random part of a key.
    for (const token of run.tokens) expect(logs.includes(token.split('.')[2] as string)).toBe(false);
    expect(logs.includes(cluster.demoApiKey.slice(-20))).toBe(false);
  });

  it('observability - a message published on gateway-1 and fanned out on gateway-2 is one trace at the OTLP collector', async () => {
    await stop();
    const spans = collector.spans.filter((s) => s.attributes['messaging.message.id'] === run.msgId);
    const producer = spans.find((s) => s.kind === OTLP_KIND.producer);
    const consumer = spans.find((s) => s.kind === OTLP_KIND.consumer && s.instance === 'gateway-2');
    expect(producer).toMatchObject({ service: 'parley-gateway', instance: 'gateway-1', name: `publish chat.${cluster.demoNamespace}` });
    expect(producer?.attributes).toMatchObject({ 'messaging.system': 'nats', 'messaging.destination.name': `chat.${cluster.demoNamespace}` });
    expect(consumer).toMatchObject({ service: 'parley-gateway', name: `process chat.${cluster.demoNamespace}`, traceId: producer?.traceId, parentSpanId: producer?.spanId });
    // The publisher's own gateway also delivers to its local member (alice), in the same trace.
    expect(spans.find((s) => s.kind === OTLP_KIND.consumer && s.instance === 'gateway-1')?.traceId).toBe(producer?.traceId);
    // No room name, encoded or not, reached a span.
    const room = subjects.room(cluster.demoNamespace, ROOM).split('.')[2] as string;
    expect(JSON.stringify(collector.spans)).not.toContain(room);
  });
});

describe('observability - single process', () => {
  let embedded: Embedded;
  let run: RunResult;
  const lines: string[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-observability-embedded-'));
  const apiKey = generateDemoApiKey('demo');

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    // Without history, as in the cluster: the scripted run checks the bus path of room messages.
    embedded = await startEmbedded({ host: '127.0.0.1', port: 0, dataDir, demoApiKey: apiKey, demoHistory: false, drainMs: 0, metricsTenantLabels: true, logger: createLogger('parley', { level: 'debug', destination }) });
    const url = `http://127.0.0.1:${embedded.gateway.port}`;
    run = await scriptedRun({ namespace: 'demo', apiKey, authUrl: url, gateways: [url, url], services: { parley: url }, subscribed: async () => {} });
  });

  afterAll(async () => {
    await embedded?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('observability - the single process exposes the gateway, auth and bus series after the scripted run', () => {
    const m = run.metrics;
    expectGatewaySeries(m, 'demo');
    const e = m.parley as Exposition;
    expect(e.samples.find((s) => s.name === 'parley_gateway_connections')?.labels.service).toBe('parley');
    expect(sumSamples(e, 'parley_bus_connected')).toBe(1);
    expect(sumSamples(e, 'parley_bus_subscriptions')).toBeGreaterThanOrEqual(3);
  });

  it('observability - logs of the single-process run contain no token and no API key', () => {
    const logs = lines.join('');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [...run.tokens, apiKey]) expect(logs.includes(secret)).toBe(false);
  });
});
