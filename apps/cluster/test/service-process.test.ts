import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, holdPort } from '@parley/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { ServiceProcess, productionCommand } from '../src/service-process.ts';

const work = mkdtempSync(join(tmpdir(), 'parley-service-process-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function authOn(port: number, choosePort?: () => Promise<number>) {
  return new ServiceProcess({
    name: 'auth',
    args: productionCommand('auth'),
    url: `http://127.0.0.1:${port}`,
    output: 'ignore',
    env: { PORT: String(port), HOST: '127.0.0.1', PARLEY_DATA_DIR: mkdtempSync(join(work, 'auth-')) },
    choosePort,
  });
}

describe('service process', () => {
  it('service process - a service whose port was taken before it listened starts again on another port, and its url follows', async () => {
    const taken = await holdPort();
    const auth = authOn(taken.port, freePort);
    try {
      await auth.start();
      const port = Number(new URL(auth.url).port);
      expect(port).not.toBe(taken.port);
      expect(auth.options.env.PORT).toBe(String(port));
      expect((await fetch(`${auth.url}/readyz`)).status).toBe(200);
    } finally {
      await auth.stop();
      taken.server.close();
    }
  });

  it('service process - without another port to try, a taken port fails the start with the reason', async () => {
    const taken = await holdPort();
    const auth = authOn(taken.port);
    try {
      await expect(auth.start()).rejects.toThrow(/auth exited \(1\) before it was ready/);
    } finally {
      await auth.stop();
      taken.server.close();
    }
  });
});
