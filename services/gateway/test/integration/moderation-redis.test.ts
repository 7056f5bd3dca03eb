import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { createRedisModerationStore } from '@parley/moderation/redis';
import { createPresenceRedisClient } from '@parley/presence-store/redis';
import { startRedis, type ServerProcess, type TestClient } from '@parley/testkit';
import type { Grants } from '@parley/protocol';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';

const MEMBER: Grants = { '*': ['subscribe', 'publish', 'presence'] };
const MODERATOR: Grants = { '*': ['subscribe', 'publish', 'presence', 'moderate'] };

/** A gateway whose moderation store (Redis) goes away: it enforces what it cached, lets unknown rooms through, and refuses actions. */
describe('moderation while Redis is down', () => {
  let keys: TestKeys;
  let redis: ServerProcess;
  let client: Redis | Cluster;
  let gw: TestGateway;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    redis = await startRedis();
    client = createPresenceRedisClient(redis.url);
    gw = await startTestGateway(keys, { moderation: createRedisModerationStore(client) });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw.gateway.close();
    client.disconnect();
    await redis.stop();
  });

  const connect = async (user: string, rooms: string[], grants = MEMBER) => {
    const c = await join(gw.wsUrl, await mintToken(keys, { sub: user, grants, lim: { messagesPerSecond: 1000, burst: 1000 } }), rooms);
    clients.push(c);
    return c;
  };

  it('moderation redis - cached bans and mutes hold through the outage, unknown rooms stay usable, actions fail as temporary, and all works again after', async () => {
    const mod = await connect('r-mod', ['held'], MODERATOR);
    const target = await connect('r-target', ['held']);
    await mod.request({ type: 'mute', room: 'held', user: 'r-target' });
    await target.waitFor('member.muted');
    await mod.request({ type: 'ban', room: 'held', user: 'r-banned' });

    await redis.stop();
    expect(await target.request({ type: 'publish', room: 'held', data: 'x' })).toMatchObject({ type: 'error', code: 'muted' });
    const banned = await connect('r-banned', []);
    expect(await banned.request({ type: 'join', room: 'held' })).toMatchObject({ type: 'error', code: 'banned' });
    const other = await connect('r-other', []);
    expect(await other.request({ type: 'join', room: 'never-loaded' })).toMatchObject({ type: 'joined' });
    expect(await other.request({ type: 'publish', room: 'never-loaded', data: 'still chatting' })).toMatchObject({ type: 'ack' });
    expect(await mod.request({ type: 'unmute', room: 'held', user: 'r-target' })).toMatchObject({ type: 'error', code: 'moderation_unavailable', temporary: true });
    expect(await gw.registry.metrics()).toMatch(/parley_gateway_moderation_store_errors_total\{[^}]*\} [1-9]/);

    await redis.restart();
    let reply;
    const deadline = Date.now() + 10_000;
    do reply = await mod.request({ type: 'unmute', room: 'held', user: 'r-target' });
    while (reply.type === 'error' && Date.now() < deadline && (await new Promise((r) => setTimeout(r, 100)), true));
    expect(reply).toMatchObject({ type: 'ack' });
    expect(await target.request({ type: 'publish', room: 'held', data: 'back' })).toMatchObject({ type: 'ack' });
  });
});
