import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, freePort, startNats, startRedis, type ServerProcess, type TestClient } from '@parley/testkit';
import { renderChart, type K8sObject } from './support/chart.ts';
import { CHART_DIR, PREPARE_TIMEOUT_MS, prepareTools } from './support/tools.ts';
import { processFromChart } from './support/chart-env.ts';
import { killAll, startChartProcess, terminate, waitUntilReady, type RunningProcess } from './support/loopback.ts';

/**
 * The services started with exactly the environment the chart gives them (helm template, then
 * processFromChart), on loopback, against real NATS and Redis, and the chart's `helm test`
 * script run against them.
 */
describe('chart on loopback', () => {
  let redis: ServerProcess;
  let nats: ServerProcess;
  let objects: K8sObject[];
  const mountRoot = mkdtempSync(join(tmpdir(), 'parley-loopback-'));
  const running: RunningProcess[] = [];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    prepareTools();
    [redis, nats] = await Promise.all([startRedis(), startNats()]);
    // A short drain keeps the test quick; everything else is the chart's defaults.
    objects = renderChart({ values: { nats: { url: nats.url }, redis: { url: redis.url }, gateway: { drainSeconds: 2 }, auth: { drainSeconds: 1 } } }).objects;
  }, PREPARE_TIMEOUT_MS);

  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    killAll(running);
    await Promise.all([redis?.stop(), nats?.stop()]);
    rmSync(mountRoot, { recursive: true, force: true });
  });

  it('chart on loopback - the services with the chart env become ready, pass a message across two gateways and see both users', async () => {
    const [authPort, presencePort, gatewayA, gatewayB] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const servicePorts = { auth: authPort, gateway: gatewayA, presence: presencePort };
    const auth = startChartProcess(processFromChart(objects, 'auth', { port: authPort, servicePorts, mountRoot }));
    const presence = startChartProcess(processFromChart(objects, 'presence', { port: presencePort, servicePorts, mountRoot }));
    running.push(auth, presence);
    const gateways = [gatewayA, gatewayB].map((port, i) =>
      startChartProcess(processFromChart(objects, 'gateway', { port, servicePorts, mountRoot, podName: `parley-gateway-${'ab'[i]}` })),
    );
    running.push(...gateways);
    await Promise.all(running.map((p) => waitUntilReady(p)));

    // The auth service signs with the key the chart generated (Secret → mounted key file).
    const jwks = (await (await fetch(`${auth.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toEqual(['default']);

    // The admin token comes from the chart's Secret, as the pod gets it.
    const admin = { authorization: `Bearer ${auth.spec.env.PARLEY_ADMIN_TOKEN}`, 'content-type': 'application/json' };
    expect((await fetch(`${auth.url}/v1/admin/tenants`, { method: 'POST', headers: admin, body: '{"ns":"acme"}' })).status).toBe(201);
    const created = await fetch(`${auth.url}/v1/admin/tenants/acme/keys`, { method: 'POST', headers: admin });
    const { key } = (await created.json()) as { key: string };
    const mint = async (user: string) => {
      const response = await fetch(`${auth.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user, grants: { '*': ['subscribe', 'publish'] } }),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { token: string }).token;
    };

    const joinLobby = async (port: number, user: string) => {
      const client = await connectClient(`ws://127.0.0.1:${port}/v1/ws`, { token: await mint(user) });
      clients.push(client);
      await client.waitFor('welcome');
      expect((await client.request({ type: 'join', room: 'lobby' })).type).toBe('joined');
      return client;
    };
    const alice = await joinLobby(gatewayA, 'alice');
    const bob = await joinLobby(gatewayB, 'bob');
    // NATS interest from gateway B may take a moment to reach gateway A: publish until it arrives.
    const deadline = Date.now() + 5000;
    let received = false;
    for (let i = 0; !received && Date.now() < deadline; i++) {
      await alice.request({ type: 'publish', room: 'lobby', data: `hello ${i}` });
      received = await bob.waitFor((f) => f.type === 'message' && String(f.data).startsWith('hello'), 250).then(() => true, () => false);
    }
    expect(received).toBe(true);

    // The presence service, reading what both gateways wrote to Redis, sees both users.
    let members: string[] = [];
    for (const until = Date.now() + 5000; Date.now() < until && members.length < 2; ) {
      const response = await fetch(`${presence.url}/v1/rooms/lobby/members`, { headers: { authorization: `Bearer ${key}` } });
      expect(response.status).toBe(200);
      members = ((await response.json()) as { members: Array<{ user: string }> }).members.map((m) => m.user).sort();
      if (members.length < 2) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(members).toEqual(['alice', 'bob']);

    // The chart's `helm test` script passes against these services.
    const check = spawnSync(process.execPath, [join(CHART_DIR, 'files', 'helm-test.mjs')], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { PARLEY_TEST_GATEWAY_URL: `http://127.0.0.1:${gatewayA}`, PARLEY_TEST_AUTH_URL: auth.url, PARLEY_TEST_PRESENCE_URL: presence.url, PARLEY_TEST_DEADLINE_MS: '5000' },
    });
    expect(check.stdout + check.stderr + String(check.error ?? '')).toContain('all checks passed');
    expect(check.status).toBe(0);

    // SIGTERM after the preStop sleep: bob is told to reconnect and gateway B exits 0 within what
    // is left of the chart's grace period.
    const b = gateways[1]!;
    const left = (b.spec.terminationGracePeriodSeconds - b.spec.preStopSleepSeconds) * 1000;
    const exit = terminate(b, left);
    expect((await bob.waitFor('reconnect')).type).toBe('reconnect');
    expect(await exit).toBe(0);
    const leftOf = (p: RunningProcess) => (p.spec.terminationGracePeriodSeconds - p.spec.preStopSleepSeconds) * 1000;
    expect(await Promise.all([terminate(gateways[0]!, left), terminate(presence, leftOf(presence)), terminate(auth, leftOf(auth))])).toEqual([0, 0, 0]);
  }, 60_000);
});
