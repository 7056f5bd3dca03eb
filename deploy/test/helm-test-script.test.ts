import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { at, findObject, renderChart } from './support/chart.ts';
import { CHART_DIR, PREPARE_TIMEOUT_MS, prepareTools } from './support/tools.ts';

/**
 * The `helm test` script (files/helm-test.mjs) against small HTTP servers that answer like the
 * services do, healthy or not. The real services run it in the cluster; the loopback test covers
 * the services themselves.
 */
type Answers = Record<string, [number, string]>;
const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(answers: Answers): Promise<string> {
  const server = createServer((req, res) => {
    const [status, body] = answers[req.url ?? ''] ?? [404, 'not found'];
    res.writeHead(status).end(body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

const HEALTHY: Answers = {
  '/healthz': [200, '{"status":"ok"}'],
  '/readyz': [200, '{"status":"ready"}'],
  '/metrics': [200, '# HELP parley_up 1\n# TYPE parley_up gauge\nparley_up 1\n'],
  '/.well-known/jwks.json': [200, '{"keys":[{"kty":"EC","kid":"default","x":"a","y":"b"}]}'],
};

function runScript(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(CHART_DIR, 'files', 'helm-test.mjs')], { env: { ...env, PARLEY_TEST_DEADLINE_MS: '1500' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('helm test script', () => {
  beforeAll(prepareTools, PREPARE_TIMEOUT_MS);

  it('helm test - passes when every service is healthy and the JWKS holds public keys', async () => {
    const [gateway, auth, presence] = await Promise.all([serve(HEALTHY), serve(HEALTHY), serve(HEALTHY)]);
    const result = await runScript({ PARLEY_TEST_GATEWAY_URL: gateway, PARLEY_TEST_AUTH_URL: auth, PARLEY_TEST_PRESENCE_URL: presence });
    expect(result.output).toContain('all checks passed');
    expect(result.code).toBe(0);
  });

  it('helm test - fails on a service that is not ready and on a JWKS that leaks a private key', async () => {
    const gateway = await serve({ ...HEALTHY, '/readyz': [503, '{"status":"not ready"}'] });
    const auth = await serve({ ...HEALTHY, '/.well-known/jwks.json': [200, '{"keys":[{"kid":"k","d":"secret"}]}'] });
    const presence = await serve(HEALTHY);
    const result = await runScript({ PARLEY_TEST_GATEWAY_URL: gateway, PARLEY_TEST_AUTH_URL: auth, PARLEY_TEST_PRESENCE_URL: presence });
    expect(result.output).toContain('FAIL gateway /readyz: HTTP 503');
    expect(result.output).toContain('FAIL auth JWKS: a key without kid, or a private key');
    expect(result.code).toBe(1);
  });

  it('helm test - the test pod runs the script with the three Service URLs', () => {
    const objects = renderChart().objects;
    const pod = findObject(objects, 'Pod', '-test');
    expect(pod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    const container = at<{ args: string[]; env: Array<{ name: string; value: string }> }>(pod, 'spec', 'containers', 0);
    expect(container.args).toEqual(['node', '/etc/parley-test/helm-test.mjs']);
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
    for (const component of ['gateway', 'auth', 'presence']) {
      const service = findObject(objects, 'Service', `-${component}`);
      expect(env[`PARLEY_TEST_${component.toUpperCase()}_URL`]).toBe(`http://${service.metadata.name}.chat.svc:${at(service, 'spec', 'ports', 0, 'port')}`);
    }
    const script = findObject(objects, 'ConfigMap', '-test');
    expect(at<string>(script, 'data', 'helm-test.mjs')).toContain('all checks passed');
  });
});
