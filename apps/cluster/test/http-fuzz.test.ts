import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@parley/observability';
import { checkResponse, httpFrom, operationsOf, requestsFor, type FuzzOperation, type FuzzRequest, type OpenApiDocument } from '@parley/testkit';
import { startEmbedded, type Embedded } from '../../embedded/src/embedded.ts';
import { REPO_ROOT, startCluster, type Cluster } from '../src/index.ts';

/**
 * HTTP fuzzing in CI, bounded in time: requests generated from docs/api/openapi.json (and the
 * presence service's own document) against every HTTP service, answers checked against the
 * document: zero 5xx, zero undocumented statuses, zero schema violations. schemathesis would do
 * this too, but it needs Python, which the ./parley runtime does not have; the generator and the
 * checks are in packages/testkit/src/openapi-fuzz.ts. A failure prints fast-check's seed and the
 * shrunk request; `FUZZ_SEED=<seed>` replays it.
 */
const AUTH_DOC = JSON.parse(readFileSync(join(REPO_ROOT, 'docs/api/openapi.json'), 'utf8')) as OpenApiDocument;
const RUNS = Number(process.env.FUZZ_RUNS ?? 250);
const TIME_LIMIT_MS = 20_000;
const ADMIN = 'fuzz-admin-token-0123456789abcdef';

let cluster: Cluster;
let embedded: Embedded;
const dataDir = mkdtempSync(join(tmpdir(), 'parley-http-fuzz-'));

beforeAll(async () => {
  cluster = await startCluster({ gateways: 1, webhooks: false, adminToken: ADMIN, env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '0' } });
  embedded = await startEmbedded({ host: '127.0.0.1', port: 0, dataDir, adminToken: ADMIN, drainMs: 0, logger: createLogger('parley', { level: 'silent' }) });
}, 60_000);
afterAll(async () => {
  await embedded?.close();
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Target {
  base: string;
  doc: OpenApiDocument;
  apiKey: string;
}

/** Sends one generated request: valid credentials from 127.0.0.1, missing or wrong ones from 127.0.0.9 (the limiter counts those apart). */
async function send(target: Target, op: FuzzOperation, request: FuzzRequest) {
  const scheme = op.security[0];
  const secret = scheme === 'AdminToken' ? ADMIN : target.apiKey;
  const headers: Record<string, string> = { ...(request.body !== undefined && { 'content-type': 'application/json' }) };
  if (scheme && request.credential === 'valid') headers.authorization = `Bearer ${secret}`;
  if (scheme && request.credential === 'wrong') headers.authorization = `Bearer ${secret.slice(0, -4)}XXXX`;
  const from = request.credential === 'valid' ? '127.0.0.1' : '127.0.0.9';
  return httpFrom(from, `${target.base}${request.path}`, { method: request.method, headers, ...(request.body !== undefined && { body: request.body }) });
}

async function fuzz(target: Target, options: { skip?: string[] } = {}) {
  // The fuzzer's own tenant stays: deleting it would turn every later request into a 401.
  const ops = operationsOf(target.doc).filter((op) => op.path !== '/openapi.json' && !options.skip?.includes(op.path));
  const protectedTenant = /\/v1\/admin\/tenants\/demo(\/|$)/;
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ops).chain((op) => requestsFor(target.doc, op).map((request) => ({ op, request }))),
      async ({ op, request }) => {
        fc.pre(!protectedTenant.test(request.path));
        const res = await send(target, op, request);
        sent++;
        const problems = checkResponse(target.doc, op, res.status, res.body);
        if (problems.length > 0) throw new Error(`${request.method} ${request.path} (${request.credential}) body ${request.body?.slice(0, 200)}: ${problems.join('; ')}`);
      },
    ),
    { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, ...(process.env.FUZZ_SEED && { seed: Number(process.env.FUZZ_SEED) }) },
  );
  expect(sent).toBeGreaterThan(20);
}

describe('HTTP fuzzing from the OpenAPI documents', () => {
  it('http fuzz - auth (its own process): no 5xx, only documented statuses and bodies', async () => {
    await fuzz({ base: cluster.auth.url, doc: AUTH_DOC, apiKey: cluster.demoApiKey });
  }, 60_000);

  it('http fuzz - presence (its own process), from the document it serves: no 5xx, only documented statuses and bodies', async () => {
    const doc = (await (await fetch(`${cluster.presence.url}/openapi.json`)).json()) as OpenApiDocument;
    await fuzz({ base: cluster.presence.url, doc, apiKey: cluster.demoApiKey });
  }, 60_000);

  it('http fuzz - the single-process port (auth and presence behind the gateway): no 5xx, only documented statuses and bodies', async () => {
    const base = `http://127.0.0.1:${embedded.gateway.port}`;
    // Health and readiness on this port are the gateway's ({status}; docs/operations.md), not auth's or presence's.
    const skip = ['/healthz', '/readyz', '/metrics'];
    await fuzz({ base, doc: AUTH_DOC, apiKey: embedded.demoApiKey! }, { skip });
    const presenceDoc = (await (await fetch(`${cluster.presence.url}/openapi.json`)).json()) as OpenApiDocument;
    await fuzz({ base, doc: presenceDoc, apiKey: embedded.demoApiKey! }, { skip });
  }, 90_000);
});
