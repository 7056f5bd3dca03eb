import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLogger, createMetricsRegistry } from '@parley/observability';
import { createMemoryBus } from '@parley/bus';
import { createMemoryPresenceStore } from '@parley/presence-store';
import { connectClient } from '@parley/testkit';
import { createGateway, createTokenVerifier } from '../../src/index.ts';
import { createJwksKeyGetter } from '@parley/tokens';
import { createTestKeys, mintToken } from '../support.ts';

describe('jwks', () => {
  it('jwks - a flood of tokens with unknown kids refetches the key set at most once per cooldown', async () => {
    const keys = await createTestKeys('real-key');
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [keys.jwk] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const getKey = createJwksKeyGetter(`http://127.0.0.1:${port}/.well-known/jwks.json`, { cooldownMs: 60_000 });
    const gateway = createGateway(
      { bus: createMemoryBus(), presence: createMemoryPresenceStore(), verifyToken: createTokenVerifier(getKey), logger: createLogger('gateway', { level: 'silent' }), registry: createMetricsRegistry('gateway', { defaultMetrics: false }) },
      { gatewayId: 'jwks-test', host: '127.0.0.1', port: 0 },
    );
    await gateway.listen();
    const url = `ws://127.0.0.1:${gateway.port}/v1/ws`;
    try {
      const good = await connectClient(url, { token: await mintToken(keys) });
      expect((await good.waitFor('welcome')).type).toBe('welcome');
      expect(fetches).toBe(1);
      const bogus = await Promise.all(
        Array.from({ length: 40 }, async () => {
          const forged = await createTestKeys(`bogus-${randomUUID()}`);
          const c = await connectClient(url, { token: await mintToken(forged) });
          return (await c.waitFor('error')).code;
        }),
      );
      expect(new Set(bogus)).toEqual(new Set(['token_invalid']));
      expect(fetches).toBeLessThanOrEqual(2);
      const again = await connectClient(url, { token: await mintToken(keys) });
      expect((await again.waitFor('welcome')).type).toBe('welcome');
      await Promise.all([good.close(), again.close()]);
    } finally {
      await gateway.close();
      server.close();
    }
  });
});
