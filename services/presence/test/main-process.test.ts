import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { createRedisPresenceStore, PRESENCE_REDIS_OPTIONS } from '@parley/presence-store/redis';
import { freePort, startNats, startRedis, waitForPort, type NatsProcess, type ServerProcess } from '@parley/testkit';
import { eventually, startFakeAuth, type FakeAuth } from './support.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const KEY = 'pk_acme_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

function run(env: Record<string, string>): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', PARLEY_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exit };
}

describe('presence main process', () => {
  let redis: ServerProcess;
  let nats: NatsProcess;
  let auth: FakeAuth;
  beforeAll(async () => {
    [redis, nats, auth] = await Promise.all([startRedis(), startNats(), startFakeAuth({ [KEY]: 'acme' })]);
  });
  afterAll(async () => {
    await auth?.close();
    await Promise.all([redis?.stop(), nats?.stop()]);
  });

  it('presence main process - refuses to start without REDIS_URL, naming it', async () => {
    const p = run({ NATS_URL: nats.url, PARLEY_AUTH_URL: auth.url });
    expect(await p.exit).not.toBe(0);
    expect(p.output()).toContain('REDIS_URL');
  });

  it('presence main process - serves the API, announces sweeps over NATS and stops on SIGTERM', async () => {
    const port = await freePort();
    const p = run({ PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url, NATS_URL: nats.url, PARLEY_AUTH_URL: auth.url, PARLEY_PRESENCE_TTL_MS: '1000', PARLEY_PRESENCE_SWEEP_MS: '200' });
    let listener: NatsBus | undefined;
    const gateway = createRedisPresenceStore(new Redis(redis.url, PRESENCE_REDIS_OPTIONS), { ttlMs: 1000 });
    try {
      await waitForPort(port);
      const base = `http://127.0.0.1:${port}`;
      await eventually(async () => (await fetch(`${base}/readyz`)).status === 200, 5000, 'readiness');
      listener = await createNatsBus({ servers: nats.url, name: 'test-listener' });
      const leaves: unknown[] = [];
      listener.subscribe('presence.acme.>', (m) => leaves.push(JSON.parse(new TextDecoder().decode(m.data))));
      await gateway.add({ ns: 'acme', room: 'lobby', user: 'ann', conn: 'a1', gateway: 'dead' });
      const count = await fetch(`${base}/v1/rooms/lobby/count`, { headers: { authorization: `Bearer ${KEY}` } });
      expect(await count.json()).toEqual({ room: 'lobby', users: 1, connections: 1 });
      // The gateway "dies": no heartbeat. The service's sweeper announces the leave over NATS.
      await eventually(() => leaves.length > 0, 5000, 'the leave over NATS');
      expect(leaves).toEqual([{ type: 'presence.leave', room: 'lobby', user: 'ann' }]);
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/parley_presence_swept_connections_total\{service="presence"\} 1\n/);
      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
      await listener?.close();
      await gateway.close();
    }
  });
});
