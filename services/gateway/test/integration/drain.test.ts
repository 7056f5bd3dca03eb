import { describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@parley/protocol';
import { connectClient, startNats, startRedis } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway } from '../support.ts';
import { startGatewayProcess, startJwksServer } from '../gateway-process.ts';

describe('drain', () => {
  it('drain - readiness goes false, clients get reconnect, then close with 4000; new connections are refused', async () => {
    const keys = await createTestKeys();
    const { gateway, wsUrl } = await startTestGateway(keys);
    const c = await join(wsUrl, await mintToken(keys), ['lobby']);
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    const drained = gateway.drain(600);
    const notice = await c.waitFor('reconnect');
    expect(notice.reason).toBe('shutdown');
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(503);
    const late = await connectClient(wsUrl, { token: await mintToken(keys) });
    expect((await late.waitFor('error')).code).toBe('shutting_down');
    expect((await c.closed).code).toBe(CLOSE_CODES.shutdown);
    await drained;
  });

  it('drain - the members a stopping gateway closes are announced as left before its bus closes (SIGTERM, NATS and Redis)', async () => {
    const keys = await createTestKeys();
    const [nats, redis, jwks] = await Promise.all([startNats(), startRedis(), startJwksServer([keys])]);
    const env = { natsUrl: nats.url, jwksUrl: jwks.url, redisUrl: redis.url, drainMs: 200 };
    const [stopping, staying] = await Promise.all([startGatewayProcess({ ...env, gatewayId: 'stopping' }), startGatewayProcess({ ...env, gatewayId: 'staying' })]);
    try {
      const watcher = await join(staying.wsUrl, await mintToken(keys, { sub: 'watcher' }), ['lobby']);
      const users = Array.from({ length: 30 }, (_, i) => `member-${i}`);
      const members = await Promise.all(users.map(async (sub) => join(stopping.wsUrl, await mintToken(keys, { sub }), ['lobby'])));
      for (const sub of users) await watcher.waitFor((f) => f.type === 'presence.join' && f.user === sub);

      await stopping.kill('SIGTERM');
      expect(stopping.child.exitCode).toBe(0);
      for (const m of members) expect((await m.closed).code).toBe(CLOSE_CODES.shutdown);
      for (const sub of users) await watcher.waitFor((f) => f.type === 'presence.leave' && f.user === sub);
      expect(stopping.output()).not.toContain('not published');
      const present = await watcher.request({ type: 'presence', room: 'lobby' });
      expect((present.members as { user: string }[]).map((m) => m.user)).toEqual(['watcher']);
      await watcher.close();
    } finally {
      await Promise.all([stopping.kill(), staying.kill()]);
      await Promise.all([jwks.close(), nats.cleanup(), redis.stop()]);
    }
  });
});
