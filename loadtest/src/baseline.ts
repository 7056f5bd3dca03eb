import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, waitForPort } from '@parley/testkit';
import { LOADTEST_DIR } from './paths.ts';

/** The bare uWebSockets.js + NATS bridge of loadtest/bench, as a baseline for the same k6 load. */
export interface Baseline {
  /** Base URLs (http://127.0.0.1:port); the WebSocket path is /v1/ws like Parley's. */
  urls: string[];
  pids: number[];
  stop(): Promise<void>;
}

const BRIDGE = `${LOADTEST_DIR}bench/servers/uws-nats-bridge.ts`;

/** Starts `count` bridge processes on loopback, connected to `natsUrl`. */
export async function startBaseline(natsUrl: string, count = 2): Promise<Baseline> {
  const children: ChildProcess[] = [];
  const urls: string[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', BRIDGE], {
        env: { PATH: process.env.PATH ?? '', PORT: String(port), NATS_URL: natsUrl },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
      await waitForPort(port, 15_000);
      urls.push(`http://127.0.0.1:${port}`);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { urls, pids: children.map((c) => c.pid!), stop };
}
