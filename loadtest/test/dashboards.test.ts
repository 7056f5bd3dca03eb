import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@parley/protocol';
import { REPO_ROOT, startCluster, type Cluster } from '@parley/cluster';
import { connectClient, type TestClient } from '@parley/testkit';
import { ensureK6, failedThresholds, runK6 } from '../src/k6.ts';

/**
 * The shipped Grafana dashboards against a real Prometheus: the cluster with Prometheus beside it
 * (scraping every process each second, the chart's alert rules loaded), a short k6 chat load, then
 * every panel query of every dashboard evaluated through Prometheus's HTTP API, as Grafana would
 * send it. A query that is empty shows "No data" to an operator: each must return a value. Some
 * series exist only once something has happened (EMPTY_UNTIL): the test causes each such event,
 * then evaluates every query again.
 */

const DASHBOARDS = join(REPO_ROOT, 'deploy/helm/parley/dashboards');
const SCRAPE_INTERVAL = '1s';
/**
 * Grafana's `$__rate_interval` is at least four scrape intervals; a window covering the whole run
 * keeps histogram quantiles defined after the load has stopped.
 */
const RATE_INTERVAL = '3m';
/** Small enough that a resume from the first message of a room is past retention (history_gap). */
const HISTORY_PER_ROOM = 5;
/** The guard's chat-mix smoke load; latency is not what this test is about (the machine is shared). */
const CHAT_LOAD = { DURATION: '6s', USERS: '40', SESSION_S: '3', CHAT_MS: '500', PRESENCE_MS: '700', DIRECT_MS: '600', P99_MS: '5000', PRESENCE_P95_MS: '5000' };

/**
 * Metrics whose series appear only when something happens, and what. A time-series panel on them
 * is empty until then (its lines are per label value); a stat panel never is (it adds
 * `or vector(0)` where needed), which the test checks before causing any of these.
 */
const EMPTY_UNTIL: Record<string, string> = {
  parley_gateway_connections_refused_total: 'a refused handshake (a forged token)',
  parley_gateway_errors_total: 'an error frame (a flood past the rate limit)',
  parley_gateway_rate_limited_total: 'a frame refused by the rate limit',
  parley_gateway_slow_consumer_closes_total: 'a slow consumer closed with 4002',
  parley_gateway_history_gaps_total: 'a resume from a message history no longer retains (history_gap)',
  parley_gateway_presence_errors_total: 'a presence store call that fails (Redis down)',
  parley_auth_token_refusals_total: 'a refused token request (an unknown API key)',
  parley_auth_admin_requests_total: 'an admin request with a wrong token',
  parley_bus_state_changes_total: 'a bus reconnect (NATS restarted)',
  parley_webhook_attempts_total: 'a webhook delivery (an endpoint registered, then a member joins)',
  parley_gateway_moderation_actions_total: "a moderator's action from a client (a mute)",
  parley_gateway_moderation_refusals_total: 'a publish refused by moderation (the muted member)',
  parley_auth_moderation_actions_total: 'an action through the server API (a ban)',
  parley_webhook_attempt_seconds: 'a webhook delivery (an endpoint registered, then a member joins)',
};

interface Panel {
  title?: string;
  type?: string;
  targets?: Array<{ expr?: string; legendFormat?: string }>;
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  panels?: Panel[];
  templating?: { list?: Array<{ name: string; type: string; query?: unknown }> };
}
interface PanelQuery {
  where: string;
  panelType: string;
  expr: string;
  legend: string;
}
interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

/** The federation dashboard needs two regions: apps/cluster/test/federation-loopback.test.ts evaluates it against a Prometheus scraping them. */
const FEDERATION_DASHBOARD = 'parley-federation';
const dashboards = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as Dashboard)
  .filter((d) => d.uid !== FEDERATION_DASHBOARD);

/** Every panel query, rows' nested panels included. */
function panelQueries(): PanelQuery[] {
  const queries: PanelQuery[] = [];
  const visit = (uid: string, panels: Panel[] = []) => {
    for (const panel of panels) {
      visit(uid, panel.panels);
      for (const t of panel.targets ?? []) {
        if (t.expr) queries.push({ where: `${uid} / ${panel.title}${t.legendFormat ? ` / ${t.legendFormat}` : ''}`, panelType: panel.type ?? '', expr: t.expr, legend: t.legendFormat ?? '' });
      }
    }
  };
  for (const d of dashboards) visit(d.uid, d.panels);
  return queries;
}

/** The listed metric a query waits for; none when it falls back to `vector(0)`. */
const emptyUntil = (expr: string) => (/\bor\s+vector\(0\)/.test(expr) ? undefined : Object.keys(EMPTY_UNTIL).find((metric) => expr.includes(metric)));

describe('dashboards against a real Prometheus', () => {
  let cluster: Cluster;
  let prometheus: string;
  const logDir = mkdtempSync(join(tmpdir(), 'parley-dashboards-'));
  const clients: TestClient[] = [];
  const queries = panelQueries();

  const admin = (path: string, init: RequestInit = {}, token = cluster.adminToken) =>
    fetch(`${cluster.auth.url}/v1/admin${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  const mint = async (user: string, apiKey = cluster.demoApiKey, capabilities = ['subscribe', 'publish', 'presence']) =>
    fetch(`${cluster.auth.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user, grants: { '*': capabilities } }),
    });
  const token = async (user: string, capabilities?: string[]) => {
    const res = await mint(user, cluster.demoApiKey, capabilities);
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  };
  const ws = (index: number) => `${cluster.gateways[index]!.url.replace('http', 'ws')}/v1/ws`;
  const connect = async (user: string, gateway = 0, capabilities?: string[]) => {
    const client = await connectClient(ws(gateway), { token: await token(user, capabilities) });
    clients.push(client);
    await client.waitFor('welcome');
    return client;
  };
  /** Sum of a metric over every gateway's /metrics. */
  const gatewaySum = async (name: string) => {
    let sum = 0;
    for (const g of cluster.gateways) {
      const text = await (await fetch(`${g.url}/metrics`)).text();
      for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').pop());
    }
    return sum;
  };
  const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  /** The query as Grafana sends it for the demo tenant. */
  const asSent = (expr: string) => expr.replaceAll('$__rate_interval', RATE_INTERVAL).replaceAll('$tenant', cluster.demoNamespace);
  const evaluate = async (expr: string): Promise<QueryResult> => {
    const res = await fetch(`${prometheus}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: asSent(expr) }) });
    return (await res.json()) as QueryResult;
  };
  /** Queries whose result is still empty (or an error) after waiting up to `timeoutMs` for a scrape to bring data. */
  const stillEmpty = async (list: PanelQuery[], timeoutMs = 15_000) => {
    let pending = list;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const results = await Promise.all(pending.map(async (q) => ({ q, result: await evaluate(q.expr) })));
      pending = results.filter(({ result }) => result.status !== 'success' || (result.data?.result.length ?? 0) === 0).map(({ q }) => q);
      if (pending.length === 0 || Date.now() > deadline) return pending.map((q) => `${q.where}: ${q.expr.replace(/\s+/g, ' ')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  beforeAll(async () => {
    const k6 = await ensureK6();
    cluster = await startCluster({
      gateways: 2,
      output: logDir,
      // The webhook receiver is on loopback over plain HTTP: the operator's explicit opt-in.
      env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '0', PARLEY_WEBHOOKS_ALLOW_HTTP: 'true', PARLEY_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: 'true' },
      prometheus: { scrapeInterval: SCRAPE_INTERVAL },
    });
    prometheus = cluster.prometheus!.url;
    // History on for the demo tenant (the history panels), with a short retention per room.
    const patched = await admin(`/tenants/${cluster.demoNamespace}`, { method: 'PATCH', body: JSON.stringify({ settings: { history: { enabled: true, maxMessagesPerRoom: HISTORY_PER_ROOM } } }) });
    expect(patched.status, await patched.text()).toBe(200);
    const gateways = cluster.gateways.map((g) => g.url).join(',');
    const load = await runK6({ k6, scenario: 'chat-mix', stdio: 'capture', timeoutMs: 90_000, env: { PARLEY_GATEWAYS: gateways, PARLEY_AUTH_URL: cluster.auth.url, PARLEY_API_KEY: cluster.demoApiKey, ...CHAT_LOAD } });
    expect(load.exitCode, `k6: ${failedThresholds(load.summary).join('; ')}\n${load.output.slice(-2000)}`).toBe(0);
  }, 20 * 60_000);

  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await cluster?.stop();
    rmSync(logDir, { recursive: true, force: true });
  }, 60_000);

  it('dashboards - every panel query names a Parley metric, and every metric listed as waiting for an event is queried by a panel', () => {
    expect(dashboards.length).toBeGreaterThanOrEqual(3);
    expect(queries.length).toBeGreaterThan(50);
    for (const q of queries) expect(q.expr, q.where).toMatch(/\bparley_[a-z_]+/);
    // The list names only metrics some panel queries.
    for (const metric of Object.keys(EMPTY_UNTIL)) expect(queries.some((q) => q.expr.includes(metric)), metric).toBe(true);
  });

  it('dashboards - under a chat load every panel query returns data, except those waiting for a listed event; no stat panel waits', async () => {
    // The tenant variable's query (label_values) offers the demo tenant.
    const tenants = (await (await fetch(`${prometheus}/api/v1/label/tenant/values?${new URLSearchParams({ 'match[]': 'parley_gateway_connections_opened_total' })}`)).json()) as { data: string[] };
    expect(tenants.data).toContain(cluster.demoNamespace);
    for (const q of queries) expect(asSent(q.expr), q.where).not.toContain('$');
    expect(queries.filter((q) => q.panelType === 'stat' && emptyUntil(q.expr)).map((q) => q.where), 'stat panels waiting for an event').toEqual([]);
    expect(await stillEmpty(queries.filter((q) => !emptyUntil(q.expr)))).toEqual([]);
  }, 60_000);

  it('dashboards - after each listed event, every panel query of every dashboard returns a defined value', async () => {
    const [g1, g2] = [0, 1];
    // A refused handshake.
    const forged = await connectClient(ws(g1), { token: `${(await token('mallory')).slice(0, -4)}AAAA` });
    clients.push(forged);
    expect((await forged.waitFor('error')).code).toBe('token_invalid');
    // A flood past the rate limit (burst 40 by default): error frames and rate-limited frames.
    const flooder = await connect('flooder', g1);
    for (let i = 0; i < 80; i++) flooder.send({ type: 'leave', room: 'nowhere', id: `flood-${i}` });
    await flooder.waitFor((f) => f.type === 'error' && f.code === 'rate_limited');
    // A refused token request and an admin request with a wrong token.
    expect((await mint('nobody', `pk_${cluster.demoNamespace}_${'A'.repeat(43)}`)).status).toBe(401);
    expect((await admin('/tenants', {}, 'not-the-admin-token-0123456789')).status).toBe(401);

    // A resume from the first message of a room that retains fewer: history_gap, then a replay.
    const writer = await connect('writer', g1);
    expect((await writer.request({ type: 'join', room: 'gap-room' })).type).toBe('joined');
    const seqs: number[] = [];
    for (let i = 0; i < HISTORY_PER_ROOM + 3; i++) seqs.push(Number((await writer.request({ type: 'publish', room: 'gap-room', data: { i } })).seq));
    const reader = await connect('reader', g2);
    reader.send({ type: 'join', room: 'gap-room', since: seqs[0] });
    expect((await reader.waitFor('error')).code).toBe('history_gap');
    await reader.waitFor((f) => f.type === 'message' && f.seq === seqs.at(-1));

    // A slow consumer: limits raised so one sender can outrun a client that stopped reading.
    const raised = await admin(`/tenants/${cluster.demoNamespace}`, { method: 'PATCH', body: JSON.stringify({ settings: { messagesPerSecond: 10_000, burst: 100_000, maxFrameBytes: 65_536 } }) });
    expect(raised.status).toBe(200);
    const slow = await connect('slow', g1);
    const sender = await connect('sender', g2);
    slow.ws.pause();
    const before = await gatewaySum('parley_gateway_slow_consumer_closes_total');
    const big = 'x'.repeat(48_000);
    for (let sent = 0; (await gatewaySum('parley_gateway_slow_consumer_closes_total')) === before; sent++) {
      expect(sent, 'batches of direct messages sent without a slow-consumer close').toBeLessThan(200);
      for (let i = 0; i < 10; i++) expect((await sender.request({ type: 'direct', to: 'slow', data: big })).type).toBe('ack');
    }
    slow.ws.resume();
    expect((await slow.closed).code).toBe(CLOSE_CODES.slow_consumer);

    // A presence store call that fails: Redis down during a presence query, then back.
    const asker = await connect('asker', g1);
    expect((await asker.request({ type: 'join', room: 'lobby' })).type).toBe('joined');
    await cluster.redis.stop();
    expect((await asker.request({ type: 'presence', room: 'lobby' }, 15_000)).code).toBe('presence_unavailable');
    await cluster.redis.restart();
    await until('gateways reconnected to Redis', async () => (await gatewaySum('parley_redis_connected')) === cluster.gateways.length);

    // A webhook delivery: an endpoint of the demo tenant on a local receiver, then a member joins.
    const delivered: string[] = [];
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => (delivered.push(String(req.headers['webhook-id'])), res.writeHead(204).end()));
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const registered = await fetch(`${cluster.auth.url}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cluster.demoApiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, events: ['member.joined'], rooms: 'hooked' }),
    });
    expect(registered.status, await registered.clone().text()).toBe(201);
    const hooked = await connect('hooked', g2);
    expect((await hooked.request({ type: 'join', room: 'hooked' })).type).toBe('joined');
    await until('a webhook delivered', async () => delivered.length > 0);
    receiver.close();

    // Moderation: a moderator mutes a member from its client, the member's publish is refused, the backend bans through the server API.
    const moderator = await connect('moderator', g1, ['subscribe', 'publish', 'presence', 'moderate']);
    expect((await moderator.request({ type: 'mute', room: 'civil', user: 'shouter' })).type).toBe('ack');
    const shouter = await connect('shouter', g2);
    expect((await shouter.request({ type: 'publish', room: 'civil', data: 'LOUD' })).code).toBe('muted');
    const banned = await fetch(`${cluster.auth.url}/v1/rooms/civil/bans`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cluster.demoApiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'shouter', reason: 'persistent shouting' }),
    });
    expect(banned.status, await banned.clone().text()).toBe(200);

    // A bus reconnect: NATS restarted (same port, same JetStream store); every process reconnects.
    await cluster.nats.restart();
    await until('gateways reconnected to NATS', async () => (await gatewaySum('parley_bus_reconnects_total')) >= cluster.gateways.length && (await gatewaySum('parley_gateway_ready')) === cluster.gateways.length);

    expect(await stillEmpty(queries, 30_000)).toEqual([]);
    // A value an operator can read: not only NaN (a histogram quantile without observations).
    const undefinedOnly: string[] = [];
    for (const q of queries) {
      const values = (await evaluate(q.expr)).data?.result.map((r) => Number(r.value[1])) ?? [];
      if (!values.some((v) => Number.isFinite(v))) undefinedOnly.push(`${q.where}: ${JSON.stringify(values)}`);
    }
    expect(undefinedOnly).toEqual([]);

    // The chart's alert rules evaluated over all of it without an error.
    const rules = (await (await fetch(`${prometheus}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } };
    const all = rules.data.groups.flatMap((g) => g.rules);
    expect(all.length).toBeGreaterThanOrEqual(9);
    expect(all.filter((r) => r.health === 'err').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
  }, 180_000);

  it('dashboards - every label a legend names is on the series the query returns', async () => {
    const missing: string[] = [];
    for (const q of queries) {
      const labels = [...q.legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1] as string);
      if (labels.length === 0) continue;
      for (const series of (await evaluate(q.expr)).data?.result ?? []) {
        for (const label of labels) if (!series.metric[label]) missing.push(`${q.where}: ${label} not on ${JSON.stringify(series.metric)}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('dashboards - rate() and increase() are taken only of counters and histograms, by the types Prometheus scraped', async () => {
    const metadata = ((await (await fetch(`${prometheus}/api/v1/metadata`)).json()) as { data: Record<string, Array<{ type: string }>> }).data;
    const typeOf = (name: string) => metadata[name]?.[0]?.type ?? metadata[name.replace(/_(bucket|count|sum)$/, '')]?.[0]?.type ?? 'unknown';
    const wrong: string[] = [];
    let checked = 0;
    for (const q of queries) {
      for (const m of q.expr.matchAll(/\b(?:rate|irate|increase)\(\s*(parley_[a-z0-9_]+)/g)) {
        checked++;
        const type = typeOf(m[1] as string);
        if (type !== 'counter' && type !== 'histogram') wrong.push(`${q.where}: ${m[1]} is a ${type}`);
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(wrong).toEqual([]);
  });
});
