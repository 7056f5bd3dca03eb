import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '@parley/embedded';
import { createLogger } from '@parley/observability';
import { connectClient, type TestClient } from '@parley/testkit';
import { createParleyAdmin, createParleyServer, ParleyApiError, verifyWebhook, type ParleyServer, type ParleyWebhookEvent } from '@parley/server';

const ADMIN = 'server-sdk-admin-token-0123456789';
const dataDir = mkdtempSync(join(tmpdir(), 'parley-server-sdk-'));
let parley: Embedded;
let url: string;
let server: ParleyServer;
let apiKey = '';
const clients: TestClient[] = [];

beforeAll(async () => {
  parley = await startEmbedded({ host: '127.0.0.1', port: 0, dataDir, adminToken: ADMIN, logger: createLogger('parley', { level: 'silent' }), drainMs: 0, webhookPolicy: { allowHttp: true, allowPrivateAddresses: true } });
  url = `http://127.0.0.1:${parley.gateway.port}`;
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await parley.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function connect(user: string, rooms: string[]) {
  const { token } = await server.mintToken({ user, grants: { '*': ['subscribe', 'publish', 'presence'] }, info: { name: user } });
  const c = await connectClient(`ws://127.0.0.1:${parley.gateway.port}/v1/ws`, { token });
  clients.push(c);
  await c.waitFor('welcome');
  for (const room of rooms) expect(await c.request({ type: 'join', room })).toMatchObject({ type: 'joined' });
  return c;
}

describe('@parley/server against a real single-process Parley', () => {
  it('server sdk - the operator creates a tenant and a key; the tenant backend mints tokens, publishes, sends directs and reads presence', async () => {
    const admin = createParleyAdmin({ url, adminToken: ADMIN });
    const tenant = await admin.createTenant({ ns: 'sdkco' });
    expect(tenant.ns).toBe('sdkco');
    expect((await admin.listTenants()).map((t) => t.ns)).toContain('sdkco');
    const { key } = await admin.createApiKey('sdkco');
    expect(await admin.listApiKeys('sdkco')).toHaveLength(1);

    apiKey = key;
    server = createParleyServer({ url, apiKey: key });
    expect(await server.whoami()).toMatchObject({ ns: 'sdkco' });
    const alice = await connect('alice', ['lobby', 'café/au-lait']);
    const bob = await connect('bob', ['lobby']);

    const { msgId } = await server.publish('lobby', { text: 'hello from the backend' });
    for (const c of [alice, bob]) expect(await c.waitFor((f) => f.type === 'message' && f.msgId === msgId)).toMatchObject({ room: 'lobby', data: { text: 'hello from the backend' } });

    const direct = await server.direct('bob', { secret: 1 });
    expect(await bob.waitFor((f) => f.type === 'direct' && f.msgId === direct.msgId)).toMatchObject({ data: { secret: 1 } });

    const members = await server.members('lobby');
    expect(members.members.map((m) => m.user).sort()).toEqual(['alice', 'bob']);
    expect(await server.count('lobby')).toMatchObject({ users: 2, connections: 2 });
    expect((await server.rooms('alice')).rooms.sort()).toEqual(['café/au-lait', 'lobby']);
    expect((await server.members('café/au-lait')).members.map((m) => m.user)).toEqual(['alice']);
  });

  it('server sdk - kick, disconnect and revoke act on live connections; refusals are ParleyApiErrors with the documented code', async () => {
    const carol = await connect('carol', ['lobby']);
    await server.kick('lobby', 'carol');
    await carol.waitFor((f) => f.type === 'error' && f.code === 'forbidden' && f.room === 'lobby');

    await server.disconnect('carol', 'maintenance');
    expect((await carol.closed).code).toBe(4006);

    const dave = await connect('dave', ['lobby']);
    const { before } = await server.revoke('dave');
    expect(before).toBeGreaterThan(0);
    expect((await dave.closed).code).toBe(4102);

    const refused = await server.publish('lobby', undefined).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ParleyApiError);
    expect(refused).toMatchObject({ status: 400, temporary: false });

    const stranger = createParleyServer({ url, apiKey: 'pk_sdkco_not-a-real-key' });
    const unauthorized = await stranger.whoami().catch((e: unknown) => e);
    expect(unauthorized).toMatchObject({ name: 'ParleyApiError', code: 'unauthorized', status: 401, temporary: false });

    const admin = createParleyAdmin({ url, adminToken: ADMIN });
    await expect(admin.getTenant('no-such-tenant')).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });

  it('server sdk - webhooks in one process: an endpoint registered through the SDK hears joins, messages and leaves, verified with verifyWebhook, shows its state, and outlives a restart', async () => {
    const received: Array<{ body: string; headers: Record<string, string | string[] | undefined> }> = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => (received.push({ body, headers: req.headers }), res.writeHead(204).end()));
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const endpoint = await server.createWebhook({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, events: ['member.joined', 'member.left', 'message.published'], rooms: 'hooks-*' });
      expect(statSync(join(dataDir, 'webhooks.json')).mode & 0o777).toBe(0o600);
      // The recorder follows the tenant's messages within a second of the endpoint's creation.
      for (let wait = Date.now() + 5000; !/^parley_webhook_message_tenants\S* 1$/m.test(await (await fetch(`${url}/metrics`)).text()); ) {
        expect(Date.now(), 'the single process follows the tenant for message.published').toBeLessThan(wait);
        await new Promise((r) => setTimeout(r, 100));
      }
      const erin = await connect('erin', ['hooks-1']);
      const ack = await erin.request({ type: 'publish', room: 'hooks-1', data: { text: 'hello hooks' } });
      erin.send({ type: 'leave', room: 'hooks-1' });
      const deadline = Date.now() + 5000;
      while (received.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const events = received.map((r) => verifyWebhook(endpoint.secret, r.body, r.headers));
      expect(events.map((e: ParleyWebhookEvent) => `${e.type} ${e.data.room} ${e.data.user}`)).toEqual(['member.joined hooks-1 erin', 'message.published hooks-1 erin', 'member.left hooks-1 erin']);
      expect(events[1]!.data).toMatchObject({ msgId: ack.msgId, data: { text: 'hello hooks' } });
      expect(events[0]!.tenant).toBe('sdkco');
      for (let wait = Date.now() + 5000; !(await server.getWebhook(endpoint.id)).state?.lastSuccessAt; ) {
        expect(Date.now()).toBeLessThan(wait);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await server.getWebhook(endpoint.id)).state).toMatchObject({ pending: 0, lastSuccessAt: expect.any(String) });

      await parley.close();
      parley = await startEmbedded({ host: '127.0.0.1', port: 0, dataDir, adminToken: ADMIN, logger: createLogger('parley', { level: 'silent' }), drainMs: 0, webhookPolicy: { allowHttp: true, allowPrivateAddresses: true } });
      url = `http://127.0.0.1:${parley.gateway.port}`;
      server = createParleyServer({ url, apiKey });
      expect((await server.listWebhooks()).map((e) => e.id)).toEqual([endpoint.id]);
    } finally {
      receiver.closeAllConnections();
      await new Promise((r) => receiver.close(r));
    }
  });
  it('server sdk - moderation: the backend bans, mutes, invites, sets roles and settings, deletes and reads the audit log; the operator does the same for any tenant', async () => {
    const gina = await connect('gina', ['modroom']);
    await connect('frank', ['modroom']);
    // The kick of the earlier test is in the log already.
    const earlier = (await server.auditLog()).entries.at(-1)!.id;
    const ban = await server.ban('modroom', 'frank', { seconds: 60, reason: 'spam' });
    expect(ban).toMatchObject({ action: 'ban', actor: '$server', target: 'frank', reason: 'spam', details: { until: expect.any(Number) } });
    expect(await gina.waitFor((f) => f.type === 'member.banned')).toMatchObject({ room: 'modroom', user: 'frank', by: '$server', reason: 'spam' });

    await server.mute('modroom', 'hank');
    await server.invite('modroom', 'ivy');
    await server.setRole('modroom', 'gina', 'moderator');
    const { settings } = await server.updateRoomSettings('modroom', { slowModeSeconds: 2 });
    expect(settings).toEqual({ inviteOnly: false, readOnly: false, slowModeSeconds: 2, maxMembers: 0 });
    expect(await server.roomModeration('modroom')).toMatchObject({ bans: [{ user: 'frank' }], mutes: [{ user: 'hank', until: null }], invites: ['ivy'], roles: [{ user: 'gina', role: 'moderator' }] });
    await server.unban('modroom', 'frank');
    await server.unmute('modroom', 'hank');
    await server.uninvite('modroom', 'ivy');
    expect(await server.setRole('modroom', 'gina', null)).toMatchObject({ action: 'role', details: { role: null } });
    expect(await server.deleteMessage('modroom', { msgId: 'm-1', reason: 'oops' })).toMatchObject({ action: 'delete', details: { msgId: 'm-1' } });
    await expect(server.deleteMessage('modroom', { seq: 1 })).rejects.toMatchObject({ name: 'ParleyApiError', code: 'history_disabled', status: 404 });
    await server.kick('modroom', 'gina', 'testing');

    const first = await server.auditLog({ after: earlier, limit: 2 });
    expect(first.entries.map((e) => e.action)).toEqual(['ban', 'mute']);
    const rest = await server.auditLog({ after: first.next! });
    expect(rest.entries.map((e) => e.action)).toEqual(['invite', 'role', 'settings', 'unban', 'unmute', 'uninvite', 'role', 'delete', 'kick']);

    const operator = createParleyAdmin({ url, adminToken: ADMIN }).moderation('sdkco');
    expect(await operator.mute('modroom', 'jack', { seconds: 30 })).toMatchObject({ action: 'mute', actor: '$server' });
    expect((await operator.roomModeration('modroom')).mutes).toEqual([{ user: 'jack', until: expect.any(Number) }]);
    expect((await operator.auditLog({ after: earlier })).entries).toHaveLength(12);
    await expect(createParleyAdmin({ url, adminToken: ADMIN }).moderation('nobody').auditLog()).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });
});
