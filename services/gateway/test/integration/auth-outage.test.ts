import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startNats, type NatsProcess } from '@parley/testkit';
import { mayReconnect } from '@parley/protocol';
import { createTestKeys, mintToken, type TestKeys } from '../support.ts';
import { startGatewayProcess, startJwksServer, type GatewayProcess } from '../gateway-process.ts';
import { until } from '../history-support.ts';

/** Outcome of one connection attempt: `welcome`, or the error code and close code it was refused with. */
async function attempt(url: string, token: string): Promise<{ welcome: boolean; code?: string; close?: number }> {
  const client = await connectClient(url, { token });
  const first = await client.waitFor((f) => f.type === 'welcome' || f.type === 'error');
  if (first.type === 'welcome') {
    await client.close();
    return { welcome: true };
  }
  const { code } = await client.closed;
  return { welcome: false, code: first.code as string, close: code };
}

const readiness = async (gw: GatewayProcess) => {
  const response = await fetch(`${gw.url}/readyz`);
  return { status: response.status, body: (await response.json()) as { reason?: string } };
};

describe('gateways through an auth outage', () => {
  let keys: TestKeys;
  let nats: NatsProcess;
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  const gateways: GatewayProcess[] = [];
  let dir: string;

  beforeAll(async () => {
    keys = await createTestKeys();
    nats = await startNats();
    jwks = await startJwksServer([keys]);
    dir = mkdtempSync(join(tmpdir(), 'parley-jwks-'));
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.kill()));
    await jwks?.close();
    await nats?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (id: string, extra: Record<string, string> = {}, waitFor: 'ready' | 'alive' = 'ready') => {
    const gw = await startGatewayProcess({ natsUrl: nats.url, jwksUrl: jwks.url, gatewayId: id, extra, waitFor });
    gateways.push(gw);
    return gw;
  };

  it('auth outage - a gateway started while auth is down answers a retryable code (never 4100), is not ready, and admits the token once auth is back', async () => {
    jwks.down = true;
    const gw = await start('cold', {}, 'alive');
    const token = await mintToken(keys, { sub: 'early' });
    const refused = await attempt(gw.wsUrl, token);
    expect(refused).toEqual({ welcome: false, code: 'auth_unavailable', close: 4005 });
    expect(mayReconnect(refused.close as number)).toBe(true);
    const ready = await readiness(gw);
    expect(ready.status).toBe(503);
    expect(ready.body.reason).toMatch(/key set/);

    jwks.down = false;
    await until(async () => (await readiness(gw)).status === 200, 'the gateway to become ready once auth answers');
    expect(await attempt(gw.wsUrl, token)).toEqual({ welcome: true });
  });

  it('auth outage - with auth down past the key set maximum age, valid tokens still connect with the last good key set', async () => {
    jwks.down = false;
    const gw = await start('warm', { PARLEY_JWKS_MAX_AGE_MS: '1000' });
    expect(await attempt(gw.wsUrl, await mintToken(keys, { sub: 'before' }))).toEqual({ welcome: true });
    jwks.down = true;
    // The key set is past its age and a refetch has failed (the gateway counts it).
    await until(async () => {
      await attempt(gw.wsUrl, await mintToken(keys, { sub: 'probe' }));
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      return /^parley_gateway_jwks_fetch_failures_total(\{[^}]*\})? [1-9]/m.test(metrics);
    }, 'a failed refetch of the expired key set');
    expect(await attempt(gw.wsUrl, await mintToken(keys, { sub: 'during' }))).toEqual({ welcome: true });
    expect((await readiness(gw)).status).toBe(200);
    jwks.down = false;
  });

  it('auth outage - a gateway started from PARLEY_JWKS_FILE while auth is down is ready and verifies tokens', async () => {
    jwks.down = true;
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [keys.jwk] }));
    const gw = await start('from-file', { PARLEY_JWKS_FILE: file });
    expect((await readiness(gw)).status).toBe(200);
    expect(await attempt(gw.wsUrl, await mintToken(keys, { sub: 'filed' }))).toEqual({ welcome: true });
    // A token signed by a key the file does not hold is still refused as invalid once auth answers.
    jwks.down = false;
    const stranger = await createTestKeys('stranger');
    expect(await attempt(gw.wsUrl, await mintToken(stranger))).toMatchObject({ welcome: false, code: 'token_invalid', close: 4100 });
  });
});
