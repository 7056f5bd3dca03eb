import { describe, expect, it } from 'vitest';
import { createMemoryHistoryStore } from '@parley/history';
import { createMemoryModerationStore, type AuditEntry, type ModerationStore } from '@parley/moderation';
import { DEFAULT_ROOM_SETTINGS, subjects } from '@parley/protocol';
import { ADMIN_TOKEN, createTestAuth, recordBus, verifyUserToken, type TestAuth } from './support.ts';

const json = async (res: Response) => (await res.json()) as Record<string, any>;
const NOW = Date.UTC(2026, 11, 7, 12, 0, 0);

/** An auth app with a memory moderation store and a memory history store behind `deleteStored`, on a fixed clock. */
async function moderatedAuth(store: ModerationStore = createMemoryModerationStore({ now: () => NOW })) {
  const history = createMemoryHistoryStore();
  const t = await createTestAuth({ now: () => NOW, moderation: { store, deleteStored: (ns, room, seq) => history.delete(ns, room, seq) } });
  return { t, store, history };
}

/** Calls the tenant's route with its key; answers status and JSON body. */
function as(t: TestAuth, key: string) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await t.call(method, path, { auth: key, ...(body !== undefined && { body }) });
    return { status: res.status, body: res.status === 204 ? {} : await json(res) };
  };
}

describe('moderation through the server API', () => {
  it('moderation API - every action is stored, audited in order, announced to the gateways (control) and to the room (events)', async () => {
    const { t } = await moderatedAuth();
    const { key } = await t.tenantWithKey('acme');
    const api = as(t, key);
    const control = recordBus(t.bus, subjects.control('acme'));
    const room = recordBus(t.bus, subjects.room('acme', 'lobby'));

    const settings = await api('PATCH', '/v1/rooms/lobby/settings', { inviteOnly: true, slowModeSeconds: 5 });
    expect(settings.status).toBe(200);
    expect(settings.body.settings).toEqual({ ...DEFAULT_ROOM_SETTINGS, inviteOnly: true, slowModeSeconds: 5 });
    expect(settings.body.entry).toMatchObject({ action: 'settings', actor: '$server', room: 'lobby', ts: NOW, details: { inviteOnly: true, slowModeSeconds: 5 } });

    const ban = await api('POST', '/v1/rooms/lobby/bans', { user: 'mallory', seconds: 60, reason: 'spam' });
    expect(ban).toMatchObject({ status: 200, body: { entry: { action: 'ban', target: 'mallory', reason: 'spam', details: { until: NOW + 60_000 } } } });
    expect((await api('POST', '/v1/rooms/lobby/mutes', { user: 'trol' })).body.entry).toMatchObject({ action: 'mute', target: 'trol', details: { until: null } });
    expect((await api('PUT', '/v1/rooms/lobby/invites/bob')).body.entry).toMatchObject({ action: 'invite', target: 'bob' });
    expect((await api('PUT', '/v1/rooms/lobby/roles/carol', { role: 'moderator' })).body.entry).toMatchObject({ action: 'role', target: 'carol', details: { role: 'moderator' } });
    const kick = await api('POST', '/v1/rooms/lobby/kick', { user: 'dave', reason: 'off-topic' });
    expect(kick).toMatchObject({ status: 202, body: { entry: { action: 'kick', target: 'dave', reason: 'off-topic' } } });
    expect((await api('POST', '/v1/rooms/lobby/kick', { user: 'erin' })).status).toBe(202); // the old body still works

    expect((await api('GET', '/v1/rooms/lobby/moderation')).body).toEqual({
      settings: { ...DEFAULT_ROOM_SETTINGS, inviteOnly: true, slowModeSeconds: 5 },
      bans: [{ user: 'mallory', until: NOW + 60_000 }],
      mutes: [{ user: 'trol', until: null }],
      invites: ['bob'],
      roles: [{ user: 'carol', role: 'moderator' }],
    });

    for (const [method, path] of [
      ['DELETE', '/v1/rooms/lobby/bans/mallory'],
      ['DELETE', '/v1/rooms/lobby/mutes/trol'],
      ['DELETE', '/v1/rooms/lobby/invites/bob'],
      ['DELETE', '/v1/rooms/lobby/roles/carol'],
    ] as const) {
      expect((await api(method, path)).status, `${method} ${path}`).toBe(200);
    }
    expect((await api('GET', '/v1/rooms/lobby/moderation')).body).toMatchObject({ bans: [], mutes: [], invites: [], roles: [] });

    const audit = await api('GET', '/v1/moderation/audit');
    expect(audit.status).toBe(200);
    const entries = audit.body.entries as AuditEntry[];
    expect(entries.map((e) => `${e.action} ${e.target ?? ''}`.trim())).toEqual(['settings', 'ban mallory', 'mute trol', 'invite bob', 'role carol', 'kick dave', 'kick erin', 'unban mallory', 'unmute trol', 'uninvite bob', 'role carol']);
    expect(entries.at(-1)!.details).toEqual({ role: null });
    expect(entries.every((e) => e.actor === '$server' && e.room === 'lobby')).toBe(true);
    expect(audit.body.next).toBeUndefined();

    // Gateways: one control message per action; those that remove a user name them.
    await control.until(11);
    const ops = control.messages.map((_, i) => control.json(i));
    expect(ops.every((m) => m.op === 'moderation' && m.room === 'lobby')).toBe(true);
    expect(ops.filter((m) => m.remove).map((m) => `${m.why} ${m.remove}`)).toEqual(['ban mallory', 'kick dave', 'kick erin', 'uninvite bob']);

    // Members: an event per action but roles, naming the moderator and the reason.
    await room.until(9);
    const events = room.messages.map((_, i) => room.json(i));
    expect(events.map((e) => e.type)).toEqual(['room.settings', 'member.banned', 'member.muted', 'member.invited', 'member.kicked', 'member.kicked', 'member.unbanned', 'member.unmuted', 'member.uninvited']);
    expect(events[1]).toEqual({ type: 'member.banned', room: 'lobby', user: 'mallory', until: NOW + 60_000, by: '$server', reason: 'spam' });
    expect(events[4]).toEqual({ type: 'member.kicked', room: 'lobby', user: 'dave', by: '$server', reason: 'off-topic' });

    const metrics = await (await t.call('GET', '/metrics')).text();
    expect(metrics).toMatch(/parley_auth_moderation_actions_total\{action="kick"\} 2/);
    expect(metrics).toMatch(/parley_auth_moderation_actions_total\{action="role"\} 2/);
    expect(metrics).toMatch(/parley_auth_server_requests_total\{op="ban",outcome="200"\} 1/);
    expect(metrics).toMatch(/parley_auth_server_requests_total\{op="kick",outcome="202"\} 2/);
    expect(metrics).toMatch(/parley_auth_server_requests_total\{op="audit",outcome="200"\} 1/);
  });

  it('moderation API - the audit log pages oldest first with after, limit and next', async () => {
    const { t } = await moderatedAuth();
    const { key } = await t.tenantWithKey('acme');
    const api = as(t, key);
    for (const user of ['u1', 'u2', 'u3', 'u4', 'u5']) expect((await api('PUT', `/v1/rooms/lobby/invites/${user}`)).status).toBe(200);

    const first = await api('GET', '/v1/moderation/audit?limit=2');
    expect(first.body.entries.map((e: AuditEntry) => e.target)).toEqual(['u1', 'u2']);
    expect(first.body.next).toBe(first.body.entries[1].id);
    const second = await api('GET', `/v1/moderation/audit?limit=2&after=${first.body.next}`);
    expect(second.body.entries.map((e: AuditEntry) => e.target)).toEqual(['u3', 'u4']);
    const last = await api('GET', `/v1/moderation/audit?limit=2&after=${second.body.next}`);
    expect(last.body.entries.map((e: AuditEntry) => e.target)).toEqual(['u5']);
    expect(last.body.next).toBeUndefined();
    expect((await api('GET', `/v1/moderation/audit?after=${last.body.entries[0].id}`)).body).toEqual({ entries: [] });
  });

  it('moderation API - delete by seq removes the stored message of a history tenant; by msgId works for any tenant', async () => {
    const { t, history } = await moderatedAuth();
    const { key } = await t.tenantWithKey('keeper', { history: { enabled: true } });
    const api = as(t, key);
    const room = recordBus(t.bus, subjects.room('keeper', 'lobby'));
    const seq = await history.append('keeper', 'lobby', new TextEncoder().encode('{"text":"oops"}'), { msgId: 'm-1' });
    const kept = await history.append('keeper', 'lobby', new TextEncoder().encode('{"text":"fine"}'), { msgId: 'm-2' });

    const deleted = await api('POST', '/v1/rooms/lobby/messages/delete', { seq, reason: 'leak' });
    expect(deleted).toMatchObject({ status: 200, body: { entry: { action: 'delete', reason: 'leak', details: { seq } } } });
    expect((await history.latest('keeper', 'lobby', 10)).messages.map((m) => m.seq)).toEqual([kept]);
    await room.until(1);
    expect(room.json(0)).toEqual({ type: 'message.deleted', room: 'lobby', deleted: { seq }, by: '$server', reason: 'leak' });

    const again = await api('POST', '/v1/rooms/lobby/messages/delete', { seq });
    expect(again).toMatchObject({ status: 404, body: { code: 'not_found' } });

    const { key: plainKey } = await t.tenantWithKey('plain');
    const plain = as(t, plainKey);
    expect(await plain('POST', '/v1/rooms/lobby/messages/delete', { seq: 1 })).toMatchObject({ status: 404, body: { code: 'history_disabled' } });
    expect(await plain('POST', '/v1/rooms/lobby/messages/delete', { msgId: 'm-9' })).toMatchObject({ status: 200, body: { entry: { details: { msgId: 'm-9' } } } });

    // Where auth has no history store (no NATS), a delete by seq cannot be done.
    const noHistory = await createTestAuth({ moderation: { store: createMemoryModerationStore() } });
    const { key: k } = await noHistory.tenantWithKey('keeper', { history: { enabled: true } });
    expect(await as(noHistory, k)('POST', '/v1/rooms/lobby/messages/delete', { seq: 1 })).toMatchObject({ status: 503, body: { code: 'history_unavailable' } });
  });

  it('moderation API - refuses bad names, bodies and queries with 400 and the documented code', async () => {
    const { t, store } = await moderatedAuth();
    const { key } = await t.tenantWithKey('acme');
    const api = as(t, key);
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/v1/rooms/no.dots/bans', { user: 'x' }, 'invalid_room'],
      ['DELETE', '/v1/rooms/lobby/bans/%24server', undefined, 'invalid_user'],
      ['POST', '/v1/rooms/lobby/bans', { user: '$server' }, 'invalid_user'],
      ['POST', '/v1/rooms/lobby/bans', { user: 'x', seconds: 0 }, 'bad_frame'],
      ['POST', '/v1/rooms/lobby/mutes', { user: 'x', seconds: 1.5 }, 'bad_frame'],
      ['POST', '/v1/rooms/lobby/mutes', { user: 'x', extra: true }, 'bad_frame'],
      ['PUT', '/v1/rooms/lobby/roles/x', { role: 'admin' }, 'bad_frame'],
      ['PATCH', '/v1/rooms/lobby/settings', {}, 'bad_frame'],
      ['PATCH', '/v1/rooms/lobby/settings', { slowModeSeconds: -1 }, 'bad_frame'],
      ['PATCH', '/v1/rooms/lobby/settings', { colour: 'red' }, 'bad_frame'],
      ['POST', '/v1/rooms/lobby/messages/delete', {}, 'bad_frame'],
      ['POST', '/v1/rooms/lobby/messages/delete', { seq: 0 }, 'bad_frame'],
      ['POST', '/v1/rooms/lobby/kick', { reason: 'no user' }, 'invalid_user'],
      ['GET', '/v1/moderation/audit?limit=0', undefined, 'bad_frame'],
      ['GET', '/v1/moderation/audit?limit=1001', undefined, 'bad_frame'],
      ['GET', '/v1/moderation/audit?after=drop-table', undefined, 'bad_frame'],
    ];
    for (const [method, path, body, code] of cases) {
      const res = await api(method, path, body);
      expect({ status: res.status, code: res.body.code }, `${method} ${path} ${JSON.stringify(body)}`).toEqual({ status: 400, code });
    }
    expect(await store.audit('acme', { limit: 10 })).toEqual([]);
  });

  it('moderation API - without a moderation store every route answers 503 moderation_unavailable; a kick still works, unaudited', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('acme');
    const api = as(t, key);
    const routes: Array<[string, string, unknown?]> = [
      ['GET', '/v1/rooms/lobby/moderation'],
      ['PATCH', '/v1/rooms/lobby/settings', { readOnly: true }],
      ['POST', '/v1/rooms/lobby/bans', { user: 'x' }],
      ['DELETE', '/v1/rooms/lobby/bans/x'],
      ['POST', '/v1/rooms/lobby/mutes', { user: 'x' }],
      ['DELETE', '/v1/rooms/lobby/mutes/x'],
      ['PUT', '/v1/rooms/lobby/invites/x'],
      ['DELETE', '/v1/rooms/lobby/invites/x'],
      ['PUT', '/v1/rooms/lobby/roles/x', { role: 'owner' }],
      ['DELETE', '/v1/rooms/lobby/roles/x'],
      ['POST', '/v1/rooms/lobby/messages/delete', { msgId: 'm' }],
      ['GET', '/v1/moderation/audit'],
    ];
    for (const [method, path, body] of routes) {
      const res = await api(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(503);
      expect(res.body).toMatchObject({ code: 'moderation_unavailable', temporary: true, message: expect.stringContaining('PARLEY_MODERATION_REDIS_URL') });
    }
    expect((await t.admin('GET', '/v1/admin/tenants/acme/rooms/lobby/moderation')).status).toBe(503);

    const control = recordBus(t.bus, subjects.control('acme'));
    expect(await api('POST', '/v1/rooms/lobby/kick', { user: 'dave' })).toEqual({ status: 202, body: {} });
    await control.until(1);
    expect(control.json(0)).toEqual({ op: 'kick', user: 'dave', room: 'lobby' });
  });

  it('moderation API - a tenant with showModerators false: events leave out by and reason, the audit log keeps them, tokens carry mhide', async () => {
    const { t } = await moderatedAuth();
    const { key } = await t.tenantWithKey('quiet', { moderation: { showModerators: false } });
    const { key: loudKey } = await t.tenantWithKey('loud');
    const room = recordBus(t.bus, subjects.room('quiet', 'lobby'));

    const ban = await as(t, key)('POST', '/v1/rooms/lobby/bans', { user: 'mallory', reason: 'spam' });
    expect(ban.body.entry).toMatchObject({ actor: '$server', reason: 'spam' });
    await room.until(1);
    expect(room.json(0)).toEqual({ type: 'member.banned', room: 'lobby', user: 'mallory' });

    const claims = async (k: string) => (await verifyUserToken((await json(await t.mint(k, { user: 'alice', grants: {} }))).token, t.auth.jwks(), { currentDate: new Date(NOW) })).payload;
    expect((await claims(key)).mhide).toBe(true);
    expect((await claims(loudKey)).mhide).toBeUndefined();

    const tenant = await json(await t.admin('PATCH', '/v1/admin/tenants/quiet', { settings: { moderation: { showModerators: true } } }));
    expect(tenant.settings.moderation).toEqual({ showModerators: true });
    expect((await claims(key)).mhide).toBeUndefined();
    expect((await t.admin('PATCH', '/v1/admin/tenants/quiet', { settings: { moderation: { showModerators: 'no' } } })).status).toBe(400);
  });

  it("moderation API - a tenant's API key never reads or acts on another tenant's rooms or audit log", async () => {
    const { t, store } = await moderatedAuth();
    const { key: a } = await t.tenantWithKey('alpha');
    const { key: b } = await t.tenantWithKey('beta');
    const alphaControl = recordBus(t.bus, subjects.control('alpha'));
    const betaControl = recordBus(t.bus, subjects.control('beta'));

    expect((await as(t, a)('POST', '/v1/rooms/lobby/bans', { user: 'mallory' })).status).toBe(200);
    expect((await as(t, a)('PATCH', '/v1/rooms/lobby/settings', { readOnly: true })).status).toBe(200);
    // The same room name under beta's key is beta's room: empty, and changing it leaves alpha's alone.
    expect((await as(t, b)('GET', '/v1/rooms/lobby/moderation')).body).toEqual({ settings: DEFAULT_ROOM_SETTINGS, bans: [], mutes: [], invites: [], roles: [] });
    expect((await as(t, b)('GET', '/v1/moderation/audit')).body).toEqual({ entries: [] });
    expect((await as(t, b)('DELETE', '/v1/rooms/lobby/bans/mallory')).status).toBe(200);
    expect([...(await store.room('alpha', 'lobby')).bans.keys()]).toEqual(['mallory']);
    expect((await as(t, a)('GET', '/v1/moderation/audit')).body.entries.map((e: AuditEntry) => e.action)).toEqual(['ban', 'settings']);

    // A tenant key is no admin token: the operator's routes for alpha refuse it.
    for (const [method, path, body] of [
      ['GET', '/v1/admin/tenants/alpha/rooms/lobby/moderation', undefined],
      ['DELETE', '/v1/admin/tenants/alpha/rooms/lobby/bans/mallory', undefined],
      ['GET', '/v1/admin/tenants/alpha/moderation/audit', undefined],
      ['POST', '/v1/admin/tenants/alpha/rooms/lobby/kick', { user: 'x' }],
    ] as const) {
      expect((await as(t, b)(method, path, body)).status, `${method} ${path}`).toBe(401);
    }
    expect((await t.call('POST', '/v1/rooms/lobby/bans', { body: { user: 'x' } })).status).toBe(401);

    await alphaControl.until(2);
    await betaControl.until(1);
    expect(alphaControl.messages).toHaveLength(2);
    expect(betaControl.messages).toHaveLength(1);
    expect([...(await store.room('alpha', 'lobby')).bans.keys()]).toEqual(['mallory']);
  });

  it("moderation API - the operator moderates any tenant's rooms with the admin token; an unknown tenant is 404", async () => {
    const { t } = await moderatedAuth();
    const { key } = await t.tenantWithKey('acme');
    const room = recordBus(t.bus, subjects.room('acme', 'lobby'));
    const admin = as(t, ADMIN_TOKEN);

    expect(await admin('POST', '/v1/admin/tenants/acme/rooms/lobby/mutes', { user: 'trol', seconds: 30 })).toMatchObject({ status: 200, body: { entry: { action: 'mute', actor: '$server' } } });
    expect(await admin('PUT', '/v1/admin/tenants/acme/rooms/lobby/roles/olga', { role: 'owner' })).toMatchObject({ status: 200 });
    expect(await admin('PATCH', '/v1/admin/tenants/acme/rooms/lobby/settings', { maxMembers: 50 })).toMatchObject({ status: 200, body: { settings: { maxMembers: 50 } } });
    expect(await admin('POST', '/v1/admin/tenants/acme/rooms/lobby/kick', { user: 'trol' })).toMatchObject({ status: 202, body: { entry: { action: 'kick' } } });
    expect((await admin('GET', '/v1/admin/tenants/acme/rooms/lobby/moderation')).body).toMatchObject({ mutes: [{ user: 'trol', until: NOW + 30_000 }], roles: [{ user: 'olga', role: 'owner' }] });
    const page = await admin('GET', '/v1/admin/tenants/acme/moderation/audit?limit=3');
    expect(page.body.entries.map((e: AuditEntry) => e.action)).toEqual(['mute', 'role', 'settings']);
    expect((await admin('GET', `/v1/admin/tenants/acme/moderation/audit?after=${page.body.next}`)).body.entries.map((e: AuditEntry) => e.action)).toEqual(['kick']);
    // The tenant's own audit log is the same log.
    expect((await as(t, key)('GET', '/v1/moderation/audit')).body.entries).toHaveLength(4);
    await room.until(3);
    expect(room.messages.map((_, i) => room.json(i).type)).toEqual(['member.muted', 'room.settings', 'member.kicked']);

    for (const path of ['/v1/admin/tenants/ghost/rooms/lobby/moderation', '/v1/admin/tenants/ghost/moderation/audit']) {
      expect(await admin('GET', path), path).toMatchObject({ status: 404, body: { code: 'not_found' } });
    }
    expect((await admin('POST', '/v1/admin/tenants/ghost/rooms/lobby/bans', { user: 'x' })).status).toBe(404);
    expect((await admin('GET', '/v1/admin/tenants/Not.A.Tenant/moderation/audit')).status).toBe(400);
  });
});
