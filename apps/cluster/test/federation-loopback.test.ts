import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ParleyClient, type RoomMessage } from '@parley/client';
import { createParleyServer, type ParleyWebhookEvent } from '@parley/server';
import type { TestClient } from '@parley/testkit';
import { freePort } from '@parley/testkit';
import { connectUser, mintUserToken, REPO_ROOT, startPrometheus, startRegions, wsUrl, type PrometheusProcess, type Regions } from '../src/index.ts';
import { until } from './support.ts';

/**
 * Two regions on loopback (`startRegions`, as `npm run cluster -- --regions 2`). Webhooks: the
 * endpoints are shared (the history region's JetStream), and each event is delivered once, by the
 * dispatcher of the region that decided it (webhook events do not cross the link). The federation
 * dashboard: every query answers from a real Prometheus scraping both regions.
 */
let federation: Regions;
let prometheus: PrometheusProcess;
const clients: TestClient[] = [];
const sdkClients: ParleyClient[] = [];
const received: ParleyWebhookEvent[] = [];
let http: Server;
let receiverUrl = '';

beforeAll(async () => {
  http = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push(JSON.parse(body) as ParleyWebhookEvent);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/hooks`;
  federation = await startRegions({
    regions: 2,
    gateways: 1,
    // Delivery to a receiver on loopback over plain HTTP: the operator's explicit opt-in.
    cluster: { env: { PARLEY_WEBHOOKS_ALLOW_HTTP: 'true', PARLEY_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: 'true', PARLEY_LOG_LEVEL: 'warn' } },
  });
}, 120_000);

afterAll(async () => {
  for (const client of sdkClients) client.close();
  await Promise.allSettled(clients.map((c) => c.close()));
  await prometheus?.stop();
  await federation?.stop();
  http?.closeAllConnections();
  await new Promise((r) => http?.close(r));
}, 60_000);

describe('webhooks across regions', () => {
  it('federation webhooks - an endpoint made in one region serves both; every event, decided in either region, is delivered once', async () => {
    const [a, b] = federation.regions.map((r) => r.cluster) as [Regions['regions'][0]['cluster'], Regions['regions'][0]['cluster']];
    const inA = createParleyServer({ url: a.auth.url, presenceUrl: a.presence.url, apiKey: a.demoApiKey });
    const inB = createParleyServer({ url: b.auth.url, presenceUrl: b.presence.url, apiKey: b.demoApiKey });
    const endpoint = await inA.createWebhook({ url: receiverUrl, events: ['member.joined', 'message.published'], rooms: 'fed-*' });
    expect((await inB.listWebhooks()).map((w) => w.id)).toEqual([endpoint.id]);
    // Both regions' dispatchers read the shared endpoints and follow the tenant's messages.
    for (const cluster of [a, b]) {
      await until(async () => /^parley_webhook_message_tenants\S* 1$/m.test(await (await fetch(`${cluster.webhooks!.url}/metrics`)).text()), 10_000, 'the dispatcher follows the tenant');
    }

    const ann = await connectUser(a.gateways[0]!, await mintUserToken(a, 'ann'), ['fed-1']);
    const ben = await connectUser(b.gateways[0]!, await mintUserToken(b, 'ben'), ['fed-1']);
    clients.push(ann, ben);
    await ann.waitFor((f) => f.type === 'presence.join' && f.user === 'ben');
    expect((await ann.request({ type: 'publish', room: 'fed-1', data: 'from a' })).type).toBe('ack');
    expect((await ben.request({ type: 'publish', room: 'fed-1', data: 'from b' })).type).toBe('ack');

    const summary = () => received.map((e) => `${e.type} ${e.data.user ?? (e.data as { message?: { from?: { user?: string } } }).message?.from?.user ?? ''}`).sort();
    await until(() => received.length >= 4, 20_000, 'four events').catch((error: Error) => {
      throw new Error(`${error.message}; got ${JSON.stringify(summary())}`);
    });
    // Time for a duplicate, had one been sent by the other region's dispatcher.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(received.map((e) => e.type).sort()).toEqual(['member.joined', 'member.joined', 'message.published', 'message.published']);
    expect(new Set(received.map((e) => e.id)).size).toBe(4);
    expect(summary().filter((s) => s.startsWith('member.joined'))).toEqual(['member.joined ann', 'member.joined ben']);
  }, 60_000);

  it('federation dashboard - every query of parley-federation.json answers from a Prometheus scraping both regions, with the labels its legend names', async () => {
    const targets = federation.regions.flatMap(({ name, cluster }) => [
      ...cluster.gateways.map((g) => ({ job: 'gateway', pod: `${name}-${g.name.split('/').pop()}`, url: g.url })),
      { job: 'presence', pod: `${name}-presence`, url: cluster.presence.url },
    ]);
    prometheus = await startPrometheus({ targets, port: await freePort(), scrapeInterval: '1s', output: 'ignore' });
    // Presence queries that cross the link (the dashboard counts them).
    const [a, b] = federation.regions.map((r) => r.cluster) as [Regions['regions'][0]['cluster'], Regions['regions'][0]['cluster']];
    const cy = await connectUser(a.gateways[0]!, await mintUserToken(a, 'cy'), ['dash']);
    const di = await connectUser(b.gateways[0]!, await mintUserToken(b, 'di'), ['dash']);
    clients.push(cy, di);
    for (const client of [cy, di]) expect((await client.request({ type: 'presence', room: 'dash' })).type).toBe('presence');
    type Dashboard = { panels: Array<{ title: string; targets: Array<{ expr: string; legendFormat?: string }> }> };
    const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/helm/parley/dashboards/parley-federation.json'), 'utf8')) as Dashboard;
    type Result = { data?: { result: Array<{ metric: Record<string, string> }> } };
    const evaluate = async (expr: string) =>
      ((await (await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(expr.replaceAll('$__rate_interval', '1m'))}`)).json()) as Result).data?.result ?? [];
    for (const panel of dashboard.panels) {
      for (const { expr, legendFormat = '' } of panel.targets) {
        let result: Awaited<ReturnType<typeof evaluate>> = [];
        await until(async () => (result = await evaluate(expr)).length > 0, 30_000, `"${panel.title}" answers`);
        for (const label of [...legendFormat.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!)) {
          expect(result.every((series) => series.metric[label] !== undefined), `${panel.title}: ${label}`).toBe(true);
        }
      }
    }
  }, 90_000);

  it('federation sdk - a client given a gateway of each region loses its region and resumes in the other: every stored message once, in order', async () => {
    const [a, b] = federation.regions.map((r) => r.cluster) as [Regions['regions'][0]['cluster'], Regions['regions'][0]['cluster']];
    const admin = (path: string, init: RequestInit) => fetch(`${a.auth.url}${path}`, { ...init, headers: { authorization: `Bearer ${a.adminToken}`, 'content-type': 'application/json' } });
    expect((await admin('/v1/admin/tenants', { method: 'POST', body: JSON.stringify({ ns: 'sdkfed', settings: { history: { enabled: true } } }) })).status).toBe(201);
    const keyRes = await admin('/v1/admin/tenants/sdkfed/keys', { method: 'POST' });
    const apiKey = ((await keyRes.json()) as { key: string }).key;
    // Region b first: its gateway is the one lost.
    const reader = createClient({ urls: [wsUrl(b.gateways[0]!), wsUrl(a.gateways[0]!)], getToken: () => mintUserToken(b, 'roamer', { apiKey }), reconnect: { baseMs: 100, capMs: 500 } });
    const writer = createClient({ url: wsUrl(a.gateways[0]!), getToken: () => mintUserToken(a, 'writer', { apiKey }) });
    sdkClients.push(reader, writer);
    const received: RoomMessage[] = [];
    reader.room('roam').on('message', (m) => void received.push(m));
    await reader.room('roam').join();
    await writer.room('roam').join();
    const acked: number[] = [];
    for (let i = 0; i < 60; i++) {
      acked.push((await writer.room('roam').publish(`m-${i}`)).seq as number);
      if (i === 20) await b.gateways[0]!.stop('SIGKILL');
      await new Promise((r) => setTimeout(r, 20));
    }
    await until(() => (reader.room('roam').lastSeq ?? 0) >= acked.at(-1)!, 20_000, 'the reader caught up in region a');
    expect(received.map((m) => m.seq)).toEqual(acked);
    expect(received.map((m) => m.data)).toEqual(acked.map((_, i) => `m-${i}`));
  }, 60_000);
});
