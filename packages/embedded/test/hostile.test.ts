import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@parley/observability';
import { httpFrom } from '@parley/testkit';
import { startEmbedded, type Embedded } from '../src/embedded.ts';

/** Regressions of issue #18 on the single-process port (`npm start`). */
let parley: Embedded;
let base: string;
const dataDir = mkdtempSync(join(tmpdir(), 'parley-hostile-'));

beforeAll(async () => {
  parley = await startEmbedded({ host: '127.0.0.1', port: 0, dataDir, logger: createLogger('parley', { level: 'silent' }), drainMs: 0 });
  base = `http://127.0.0.1:${parley.gateway.port}`;
});
afterAll(async () => {
  await parley.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const randomKey = () => `pk_demo_${randomBytes(24).toString('base64url')}`;

describe('single process: hostile clients', () => {
  it("single process - 11 random API keys from one client at the presence API do not make another client's valid key fail", async () => {
    const count = (from: string, key: string) => httpFrom(from, `${base}/v1/rooms/lobby/count`, { headers: { authorization: `Bearer ${key}` } });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await count('127.0.0.2', randomKey())).status);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses[10]).toBe(429);
    expect((await count('127.0.0.3', parley.demoApiKey!)).status).toBe(200);
    const mint = await httpFrom('127.0.0.3', `${base}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${parley.demoApiKey!}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice', grants: { lobby: ['subscribe'] } }),
    });
    expect(mint.status).toBe(200);
    expect((await count('127.0.0.2', parley.demoApiKey!)).status).toBe(429);
  });
});
