import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort } from '@parley/testkit';
import type { TestKeys } from './support.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A tiny JWKS endpoint serving the test keys, as the auth service would; `down` makes it drop every connection. */
export async function startJwksServer(keys: TestKeys[]): Promise<{ url: string; down: boolean; close(): Promise<void> }> {
  const state = { down: false };
  const server: Server = createServer((req, res) => {
    if (state.down) return void req.socket.destroy();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get down() {
      return state.down;
    },
    set down(value: boolean) {
      state.down = value;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface GatewayProcess {
  readonly url: string;
  readonly wsUrl: string;
  readonly child: ChildProcess;
  /** Output of the process so far (for failure messages). */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** The gateway as a real process (`node services/gateway/src/main.ts`), ready when `/readyz` answers 200. */
export async function startGatewayProcess(env: {
  natsUrl: string;
  jwksUrl: string;
  gatewayId: string;
  redisUrl?: string;
  drainMs?: number;
  /** More variables (PARLEY_*). */
  extra?: Record<string, string>;
  /** `alive`: return once `/healthz` answers (a gateway that is expected not to be ready). @default 'ready' */
  waitFor?: 'ready' | 'alive';
}): Promise<GatewayProcess> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(childEnv)) if (key.startsWith('PARLEY_') || key.startsWith('OTEL_') || key === 'REDIS_URL') delete childEnv[key];
  Object.assign(childEnv, {
    PORT: String(port),
    HOST: '127.0.0.1',
    NATS_URL: env.natsUrl,
    PARLEY_JWKS_URL: env.jwksUrl,
    PARLEY_GATEWAY_ID: env.gatewayId,
    PARLEY_LOG_LEVEL: 'warn',
    ...(env.redisUrl && { REDIS_URL: env.redisUrl }),
    ...(env.drainMs !== undefined && { PARLEY_DRAIN_MS: String(env.drainMs) }),
    ...env.extra,
  });
  const child = spawn(process.execPath, ['services/gateway/src/main.ts'], { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (d: Buffer) => (output = (output + d.toString()).slice(-8000));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${output}`);
    const ready = await fetch(`${url}/${env.waitFor === 'alive' ? 'healthz' : 'readyz'}`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway not ready after 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    child,
    output: () => output,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}
