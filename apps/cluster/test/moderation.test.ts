import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Grants } from '@parley/protocol';
import type { TestClient } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, type Cluster } from '../src/index.ts';

let cluster: Cluster;
const open: TestClient[] = [];

const MEMBER: Grants = { '*': ['subscribe', 'publish', 'presence', 'history'] };
const MODERATOR: Grants = { '*': ['subscribe', 'publish', 'presence', 'history', 'moderate'] };

beforeAll(async () => {
  cluster = await startCluster({ gateways: 2, jetstream: true, env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '100' } });
}, 60_000);
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await cluster?.stop();
});

async function user(gateway: number | Cluster['gateways'][number], name: string, rooms: string[], grants = MEMBER) {
  const process = typeof gateway === 'number' ? cluster.gateways[gateway]! : gateway;
  const client = await connectUser(process, await mintUserToken(cluster, name, { grants }), rooms);
  open.push(client);
  return client;
}

describe('moderation across gateway processes', () => {
  it('moderation - a moderator on gateway 1 bans a user on gateway 2: removed at once, refused on every gateway (one started after the ban too), until the ban expires', async () => {
    const mod = await user(0, 'x-mod', ['townhall'], MODERATOR);
    const target = await user(1, 'x-target', ['townhall']);
    const witness = await user(1, 'x-witness', ['townhall']);
    const requested = Date.now();
    expect(await mod.request({ type: 'ban', room: 'townhall', user: 'x-target', seconds: 6, reason: 'trolling' })).toMatchObject({ type: 'ack' });
    // Within a second of the moderator's ack (the change is stored and announced by then).
    expect(await target.waitFor((f) => f.type === 'error' && f.room === 'townhall', 1000)).toMatchObject({ code: 'banned' });
    expect(await witness.waitFor('member.banned')).toMatchObject({ user: 'x-target', by: 'x-mod', reason: 'trolling' });

    expect(await target.request({ type: 'join', room: 'townhall' })).toMatchObject({ type: 'error', code: 'banned' });
    const elsewhere = await user(0, 'x-target', []);
    expect(await elsewhere.request({ type: 'join', room: 'townhall' })).toMatchObject({ type: 'error', code: 'banned' });
    const late = await cluster.addGateway();
    const onLate = await user(late, 'x-target', []);
    const refused = await onLate.request({ type: 'join', room: 'townhall' });
    expect(refused).toMatchObject({ type: 'error', code: 'banned' });

    await new Promise((r) => setTimeout(r, Math.max(0, requested + 6000 - Date.now()) + 200));
    expect(await onLate.request({ type: 'join', room: 'townhall' })).toMatchObject({ type: 'joined' });
    expect(await target.request({ type: 'join', room: 'townhall' })).toMatchObject({ type: 'joined' });
  });

  it('moderation - a mute set on gateway 1 holds on gateway 2 within a second, and so does its lifting', async () => {
    const mod = await user(0, 'y-mod', ['quiet'], MODERATOR);
    const target = await user(1, 'y-target', ['quiet']);
    expect(await target.request({ type: 'publish', room: 'quiet', data: 'before' })).toMatchObject({ type: 'ack' });
    await mod.request({ type: 'mute', room: 'quiet', user: 'y-target', seconds: 600 });
    const muted = Date.now();
    let reply;
    do reply = await target.request({ type: 'publish', room: 'quiet', data: 'during' });
    while (reply.type === 'ack' && Date.now() - muted < 2000);
    expect(reply).toMatchObject({ type: 'error', code: 'muted' });
    expect(Date.now() - muted).toBeLessThan(1000);
    await mod.request({ type: 'unmute', room: 'quiet', user: 'y-target' });
    const unmuted = Date.now();
    do reply = await target.request({ type: 'publish', room: 'quiet', data: 'after' });
    while (reply.type === 'error' && Date.now() - unmuted < 2000);
    expect(reply).toMatchObject({ type: 'ack' });
    expect(Date.now() - unmuted).toBeLessThan(1000);
  });

  it('moderation - read-only and invite-only set from gateway 2 are enforced on gateway 1', async () => {
    const mod = await user(1, 'z-mod', ['stage'], MODERATOR);
    const member = await user(0, 'z-member', ['stage']);
    await mod.request({ type: 'settings', room: 'stage', readOnly: true, inviteOnly: true });
    await member.waitFor('room.settings');
    expect(await member.request({ type: 'publish', room: 'stage', data: 'x' })).toMatchObject({ type: 'error', code: 'read_only' });
    const guest = await user(0, 'z-guest', []);
    expect(await guest.request({ type: 'join', room: 'stage' })).toMatchObject({ type: 'error', code: 'invite_only' });
    await mod.request({ type: 'invite', room: 'stage', user: 'z-guest' });
    expect(await guest.request({ type: 'join', room: 'stage' })).toMatchObject({ type: 'joined' });
  });

  it('moderation - the server API bans through auth and every gateway enforces it; the audit log lists every action of these tests in order', async () => {
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${cluster.auth.url}${path}`, { ...init, headers: { authorization: `Bearer ${cluster.demoApiKey}`, 'content-type': 'application/json', ...init.headers } });
    const target = await user(1, 'w-target', ['plaza']);
    const res = await api('/v1/rooms/plaza/bans', { method: 'POST', body: JSON.stringify({ user: 'w-target', reason: 'from the backend' }) });
    expect(res.status).toBeLessThan(300);
    expect(await target.waitFor((f) => f.type === 'error' && f.room === 'plaza', 2000)).toMatchObject({ code: 'banned' });
    const state = (await (await api('/v1/rooms/plaza/moderation')).json()) as { bans: Array<{ user: string; until: number | null }> };
    expect(state.bans).toEqual([{ user: 'w-target', until: null }]);
    const elsewhere = await user(0, 'w-target', []);
    expect(await elsewhere.request({ type: 'join', room: 'plaza' })).toMatchObject({ type: 'error', code: 'banned' });
    expect((await api('/v1/rooms/plaza/bans/w-target', { method: 'DELETE' })).status).toBeLessThan(300);
    expect(await elsewhere.request({ type: 'join', room: 'plaza' })).toMatchObject({ type: 'joined' });

    const audit = (await (await api('/v1/moderation/audit?limit=1000')).json()) as { entries: Array<{ action: string; room: string; actor: string; target?: string; reason?: string }> };
    expect(audit.entries.map((e) => [e.action, e.room, e.actor, e.target ?? null])).toEqual([
      ['ban', 'townhall', 'x-mod', 'x-target'],
      ['mute', 'quiet', 'y-mod', 'y-target'],
      ['unmute', 'quiet', 'y-mod', 'y-target'],
      ['settings', 'stage', 'z-mod', null],
      ['invite', 'stage', 'z-mod', 'z-guest'],
      ['ban', 'plaza', '$server', 'w-target'],
      ['unban', 'plaza', '$server', 'w-target'],
    ]);
    expect(audit.entries[0]).toMatchObject({ reason: 'trolling' });
  });
});
