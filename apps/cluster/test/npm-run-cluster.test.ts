import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { connectClient, type TestClient } from '@parley/testkit';
import { mintUserToken } from '../src/clients.ts';
import { metric } from './support.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'parley-npm-cluster-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run cluster', () => {
  it('npm run cluster - uses PARLEY_ADMIN_TOKEN for the admin API, never prints it, and stops with 0 on SIGTERM', async () => {
    const adminToken = 'admin-token-from-the-environment-0123456789';
    const stateFile = join(work, 'cluster.json');
    const child = spawn('npm', ['run', 'cluster'], {
      cwd: ROOT,
      env: { ...process.env, PARLEY_ADMIN_TOKEN: adminToken, PARLEY_CLUSTER_BASE_PORT: '0', PARLEY_CLUSTER_GATEWAYS: '1', PARLEY_CLUSTER_FILE: stateFile, PARLEY_DRAIN_MS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the cluster did not come up within 60 s:\n${output}`)), 60_000);
        child.stdout.on('data', () => output.includes('Ctrl-C stops everything') && (clearTimeout(timer), resolve()));
        void exited.then((code) => (clearTimeout(timer), reject(new Error(`npm run cluster exited ${code}:\n${output}`))));
      });
      expect(output).toContain('admin token     from PARLEY_ADMIN_TOKEN');
      expect(output).not.toContain(adminToken);
      const { auth } = JSON.parse(readFileSync(stateFile, 'utf8')) as { auth: string };
      const withToken = await fetch(`${auth}/v1/admin/tenants`, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(withToken.status).toBe(200);
      const withOther = await fetch(`${auth}/v1/admin/tenants`, { headers: { authorization: 'Bearer another-token-of-the-same-length-0123456' } });
      expect(withOther.status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 90_000);

  it('npm run cluster -- --regions 2 starts two regions joined by a delayed link: users of both talk in one room, presence and link metrics span them', async () => {
    const stateFile = join(work, 'regions.json');
    const child = spawn('npm', ['run', 'cluster', '--', '--regions', '2', '--link-latency-ms', '20'], {
      cwd: ROOT,
      env: { ...process.env, PARLEY_CLUSTER_BASE_PORT: '0', PARLEY_CLUSTER_GATEWAYS: '1', PARLEY_CLUSTER_FILE: stateFile, PARLEY_DRAIN_MS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const clients: TestClient[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the regions did not come up within 90 s:\n${output}`)), 90_000);
        child.stdout.on('data', () => output.includes('Ctrl-C stops everything') && (clearTimeout(timer), resolve()));
        void exited.then((code) => (clearTimeout(timer), reject(new Error(`npm run cluster -- --regions 2 exited ${code}:\n${output}`))));
      });
      expect(output).toContain('Parley federation is up: 2 regions');
      type Region = { name: string; auth: string; presence: string; gateways: string[] };
      const { regions, demoApiKey } = JSON.parse(readFileSync(stateFile, 'utf8')) as { regions: Region[]; demoApiKey: string };
      expect(regions.map((r) => r.name)).toEqual(['a', 'b']);
      const connect = async (region: Region, user: string) => {
        const token = await mintUserToken({ auth: { url: region.auth }, demoApiKey } as never, user);
        const client = await connectClient(`${region.gateways[0]!.replace('http', 'ws')}/v1/ws`, { token });
        clients.push(client);
        await client.waitFor('welcome');
        expect((await client.request({ type: 'join', room: 'lobby' })).type).toBe('joined');
        return client;
      };
      const [inA, inB] = [await connect(regions[0]!, 'ann'), await connect(regions[1]!, 'ben')];
      await inA.waitFor((f) => f.type === 'presence.join' && f.user === 'ben');
      expect((await inB.request({ type: 'publish', room: 'lobby', data: 'hi from b' })).type).toBe('ack');
      expect((await inA.waitFor((f) => f.type === 'message' && f.data === 'hi from b')).room).toBe('lobby');
      // The presence API of either region lists both regions' members.
      const members = await fetch(`${regions[1]!.presence}/v1/rooms/lobby/members`, { headers: { authorization: `Bearer ${demoApiKey}` } });
      expect(((await members.json()) as { members: Array<{ user: string }> }).members.map((m) => m.user).sort()).toEqual(['ann', 'ben']);
      // The link-state gauge: region a sees region b, about two link delays away.
      let up = 0;
      for (const deadline = Date.now() + 15_000; up !== 1 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) up = await metric(regions[0]!.gateways[0]!, 'parley_federation_region_up', 'region="b"');
      expect(up).toBe(1);
      expect(await metric(regions[0]!.gateways[0]!, 'parley_federation_region_rtt_seconds', 'region="b"')).toBeGreaterThanOrEqual(0.04);
      // Every metric of docs/metrics.md's federation section is exposed by a region's gateway or presence service.
      const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
      const section = doc.slice(doc.indexOf('## Federation'), doc.indexOf('\n## ', doc.indexOf('## Federation') + 1));
      const documented = [...section.matchAll(/`(parley_[a-z0-9_]+)`/g)].map((m) => m[1]!);
      expect(documented.length).toBeGreaterThanOrEqual(7);
      for (let deadline = Date.now() + 10_000; (await metric(regions[0]!.presence, 'parley_federation_link_messages_total', 'direction="in"')) === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 250));
      const exposition = (await Promise.all([regions[0]!.gateways[0]!, regions[0]!.presence, regions[1]!.presence].map(async (url) => (await fetch(`${url}/metrics`)).text()))).join('\n');
      expect(documented.filter((name) => !exposition.includes(`\n${name}`))).toEqual([]);
      expect(await metric(regions[0]!.presence, 'parley_federation_leaf_links')).toBe(1);
      expect(await metric(regions[0]!.presence, 'parley_federation_link_messages_total', 'direction="in"')).toBeGreaterThan(0);
    } finally {
      await Promise.allSettled(clients.map((c) => c.close()));
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 120_000);

  it('npm run cluster - PARLEY_CLUSTER_PROMETHEUS=1 starts a Prometheus that scrapes every process and loads the chart\'s alert rules', async () => {
    const stateFile = join(work, 'cluster-prometheus.json');
    const child = spawn('npm', ['run', 'cluster'], {
      cwd: ROOT,
      env: { ...process.env, PARLEY_CLUSTER_PROMETHEUS: '1', PARLEY_CLUSTER_BASE_PORT: '0', PARLEY_CLUSTER_GATEWAYS: '2', PARLEY_CLUSTER_FILE: stateFile, PARLEY_DRAIN_MS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // The first run builds Prometheus (scripts/ensure-tool.sh): minutes, once per machine.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the cluster did not come up within 15 min:\n${output}`)), 15 * 60_000);
        child.stdout.on('data', () => output.includes('Ctrl-C stops everything') && (clearTimeout(timer), resolve()));
        void exited.then((code) => (clearTimeout(timer), reject(new Error(`npm run cluster exited ${code}:\n${output}`))));
      });
      const { prometheus, gateways, auth, presence, webhooks } = JSON.parse(readFileSync(stateFile, 'utf8')) as { prometheus: string; gateways: string[]; auth: string; presence: string; webhooks: string };
      expect(output).toMatch(new RegExp(`prometheus +${prometheus.replace(/[.]/g, '\\.')}`));
      const api = async <T>(path: string) => ((await (await fetch(`${prometheus}${path}`)).json()) as { status: string; data: T }).data;

      // Every Parley process is a target, with the job and pod labels the chart's ServiceMonitors give, and answers.
      const expected = [...gateways.map((url, i) => ['gateway', `gateway-${i + 1}`, url] as const), ['auth', 'auth', auth] as const, ['presence', 'presence', presence] as const, ['webhooks', 'webhooks', webhooks] as const]
        .map(([job, pod, url]) => `${job} ${pod} ${new URL(url).host} up`)
        .sort();
      type Targets = { activeTargets: Array<{ labels: Record<string, string>; health: string }> };
      const seen = async () => (await api<Targets>('/api/v1/targets')).activeTargets.map((t) => `${t.labels.job} ${t.labels.pod} ${t.labels.instance} ${t.health}`).sort();
      const deadline = Date.now() + 30_000;
      let targets = await seen();
      while (JSON.stringify(targets) !== JSON.stringify(expected) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        targets = await seen();
      }
      expect(targets).toEqual(expected);
      type Query = { result: Array<{ metric: Record<string, string> }> };
      expect((await api<Query>('/api/v1/query?query=parley_bus_connected')).result.map((r) => r.metric.service).sort()).toEqual(['auth', 'gateway', 'gateway', 'presence', 'webhooks']);

      // The chart's alert rules are loaded and evaluate without error.
      type Rules = { groups: Array<{ rules: Array<{ name: string; health: string; type: string }> }> };
      const rules = (await api<Rules>('/api/v1/rules')).groups.flatMap((g) => g.rules);
      expect(rules.filter((r) => r.type === 'alerting').length).toBeGreaterThanOrEqual(9);
      expect(rules.map((r) => r.name)).toContain('ParleyGatewaysNotReady');
      expect(rules.filter((r) => r.health === 'err').map((r) => r.name)).toEqual([]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 16 * 60_000);
});
