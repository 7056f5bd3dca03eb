import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryModerationStore, type ModerationStore } from '@parley/moderation';
import { BINARY_FRAME, type TestClient } from '@parley/testkit';
import { decodeMemberBinaryFrame, encodeClientBinaryFrame, type Grants } from '@parley/protocol';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';
import { startHistoryBackend, type HistoryBackend } from '../history-support.ts';

let keys: TestKeys;
let moderation: ModerationStore;
let gw: TestGateway;
const clients: TestClient[] = [];

const MEMBER: Grants = { '*': ['subscribe', 'publish', 'presence', 'history'] };
/** Moderates the rooms starting with `mod-`, is a member everywhere else. */
const MODERATOR: Grants = { '*': ['subscribe', 'publish', 'presence', 'history'], 'mod-*': ['moderate'] };

beforeAll(async () => {
  keys = await createTestKeys();
  moderation = createMemoryModerationStore();
  gw = await startTestGateway(keys, { moderation });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await gw.gateway.close();
});

async function connect(user: string, rooms: string[], grants: Grants = MEMBER, url = gw.wsUrl, extra: { hist?: boolean; mhide?: boolean; ns?: string } = {}) {
  const client = await join(url, await mintToken(keys, { sub: user, grants, lim: { messagesPerSecond: 1000, burst: 1000 }, ...extra }), rooms);
  clients.push(client);
  return client;
}

const expectError = async (reply: Promise<Record<string, unknown>>, code: string) => expect(await reply).toMatchObject({ type: 'error', code });

describe('moderation', () => {
  it('moderation - a member gets forbidden for every moderator frame, and a moderator of one room cannot act on another', async () => {
    const member = await connect('m-plain', ['mod-a', 'lobby-b']);
    const mod = await connect('m-mod', ['mod-a', 'lobby-b'], MODERATOR);
    const frames = (room: string) => [
      { type: 'kick', room, user: 'x' },
      { type: 'ban', room, user: 'x', seconds: 60 },
      { type: 'unban', room, user: 'x' },
      { type: 'mute', room, user: 'x', seconds: 60 },
      { type: 'unmute', room, user: 'x' },
      { type: 'invite', room, user: 'x' },
      { type: 'uninvite', room, user: 'x' },
      { type: 'delete', room, msgId: 'm1' },
      { type: 'settings', room, readOnly: true },
    ];
    for (const frame of frames('mod-a')) await expectError(member.request(frame), 'forbidden');
    for (const frame of frames('lobby-b')) await expectError(mod.request(frame), 'forbidden');
    // Reading the settings needs only membership.
    expect(await member.request({ type: 'settings', room: 'mod-a' })).toMatchObject({ type: 'settings', room: 'mod-a', settings: { inviteOnly: false, readOnly: false, slowModeSeconds: 0, maxMembers: 0 } });
    expect(await moderation.audit('acme', { limit: 100 })).toEqual([]);
  });

  it('moderation - a ban removes the user, holds against rejoining, is announced to members, and expires on time', async () => {
    const mod = await connect('b-mod', ['mod-ban'], MODERATOR);
    const witness = await connect('b-witness', ['mod-ban']);
    const target = await connect('b-target', ['mod-ban']);
    expect(await mod.request({ type: 'ban', room: 'mod-ban', user: 'b-target', seconds: 2, reason: 'spam' })).toMatchObject({ type: 'ack' });
    expect(await target.waitFor((f) => f.type === 'error' && f.room === 'mod-ban')).toMatchObject({ code: 'banned' });
    const event = await witness.waitFor('member.banned');
    expect(event).toMatchObject({ room: 'mod-ban', user: 'b-target', by: 'b-mod', reason: 'spam' });
    expect(event.until).toBeGreaterThan(Date.now());
    // Removed: the room's messages no longer reach it.
    await mod.request({ type: 'publish', room: 'mod-ban', data: 'after the ban' });
    await witness.waitFor((f) => f.type === 'message' && f.data === 'after the ban');
    const refused = (await target.request({ type: 'join', room: 'mod-ban' })) as unknown as { code: string; retryAfterMs?: number };
    expect(refused).toMatchObject({ type: 'error', code: 'banned' });
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(target.frames.some((f) => f.type === 'message' && f.data === 'after the ban')).toBe(false);
    // Another connection of the same user is refused as well.
    const again = await connect('b-target', []);
    await expectError(again.request({ type: 'join', room: 'mod-ban' }), 'banned');
    await new Promise((r) => setTimeout(r, Math.max(0, (event.until as number) - Date.now()) + 100));
    expect(await again.request({ type: 'join', room: 'mod-ban' })).toMatchObject({ type: 'joined' });
  });

  it('moderation - a kick removes the user once, announced with the reason; the user may rejoin', async () => {
    const mod = await connect('k-mod', ['mod-kick'], MODERATOR);
    const target = await connect('k-target', ['mod-kick']);
    expect(await mod.request({ type: 'kick', room: 'mod-kick', user: 'k-target', reason: 'cool off' })).toMatchObject({ type: 'ack' });
    expect(await mod.waitFor('member.kicked')).toMatchObject({ user: 'k-target', by: 'k-mod', reason: 'cool off' });
    expect(await target.waitFor((f) => f.type === 'error' && f.room === 'mod-kick')).toMatchObject({ code: 'forbidden', message: 'removed from the room by a moderator: cool off' });
    expect(await target.request({ type: 'join', room: 'mod-kick' })).toMatchObject({ type: 'joined' });
  });

  it('moderation - a muted member cannot publish until unmuted; the mute is announced', async () => {
    const mod = await connect('u-mod', ['mod-mute'], MODERATOR);
    const target = await connect('u-target', ['mod-mute']);
    await mod.request({ type: 'mute', room: 'mod-mute', user: 'u-target', seconds: 600 });
    expect(await target.waitFor('member.muted')).toMatchObject({ user: 'u-target' });
    const refused = (await target.request({ type: 'publish', room: 'mod-mute', data: 'hello' })) as unknown as { code: string; retryAfterMs: number };
    expect(refused).toMatchObject({ type: 'error', code: 'muted', room: 'mod-mute' });
    expect(refused.retryAfterMs).toBeGreaterThan(590_000);
    await expectError(target.request({ type: 'publish', room: 'mod-mute', data: 'typing', ephemeral: true }), 'muted');
    await mod.request({ type: 'unmute', room: 'mod-mute', user: 'u-target' });
    await target.waitFor('member.unmuted');
    expect(await target.request({ type: 'publish', room: 'mod-mute', data: 'hello' })).toMatchObject({ type: 'ack' });
  });

  it('moderation - read-only: only moderators publish', async () => {
    const mod = await connect('r-mod', ['mod-ro'], MODERATOR);
    const member = await connect('r-member', ['mod-ro']);
    expect(await mod.request({ type: 'settings', room: 'mod-ro', readOnly: true })).toMatchObject({ type: 'settings', settings: { readOnly: true } });
    expect(await member.waitFor('room.settings')).toMatchObject({ settings: { readOnly: true }, by: 'r-mod' });
    await expectError(member.request({ type: 'publish', room: 'mod-ro', data: 'x' }), 'read_only');
    expect(await mod.request({ type: 'publish', room: 'mod-ro', data: 'announcement' })).toMatchObject({ type: 'ack' });
    await mod.request({ type: 'settings', room: 'mod-ro', readOnly: false });
    await member.waitFor((f) => f.type === 'room.settings' && (f.settings as { readOnly: boolean }).readOnly === false);
    expect(await member.request({ type: 'publish', room: 'mod-ro', data: 'x' })).toMatchObject({ type: 'ack' });
  });

  it('moderation - slow mode: one message per interval per member, with the wait; moderators are exempt', async () => {
    const mod = await connect('s-mod', ['mod-slow'], MODERATOR);
    const member = await connect('s-member', ['mod-slow']);
    await mod.request({ type: 'settings', room: 'mod-slow', slowModeSeconds: 30 });
    await member.waitFor('room.settings');
    expect(await member.request({ type: 'publish', room: 'mod-slow', data: 1 })).toMatchObject({ type: 'ack' });
    const refused = (await member.request({ type: 'publish', room: 'mod-slow', data: 2 })) as unknown as { code: string; retryAfterMs: number; temporary: boolean };
    expect(refused).toMatchObject({ type: 'error', code: 'slow_mode', temporary: true });
    expect(refused.retryAfterMs).toBeGreaterThan(25_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(30_000);
    for (let i = 0; i < 3; i++) expect(await mod.request({ type: 'publish', room: 'mod-slow', data: `m${i}` })).toMatchObject({ type: 'ack' });
  });

  it('moderation - invite-only: only invited users and moderators join; an uninvited member is removed', async () => {
    const mod = await connect('i-mod', ['mod-inv'], MODERATOR);
    await mod.request({ type: 'settings', room: 'mod-inv', inviteOnly: true });
    const guest = await connect('i-guest', []);
    await expectError(guest.request({ type: 'join', room: 'mod-inv' }), 'invite_only');
    await mod.request({ type: 'invite', room: 'mod-inv', user: 'i-guest' });
    expect(await guest.request({ type: 'join', room: 'mod-inv' })).toMatchObject({ type: 'joined' });
    expect(await mod.waitFor('member.invited')).toMatchObject({ user: 'i-guest' });
    await mod.request({ type: 'uninvite', room: 'mod-inv', user: 'i-guest' });
    expect(await guest.waitFor((f) => f.type === 'error' && f.room === 'mod-inv')).toMatchObject({ code: 'invite_only' });
    await expectError(guest.request({ type: 'join', room: 'mod-inv' }), 'invite_only');
    const otherMod = await connect('i-mod2', [], MODERATOR);
    expect(await otherMod.request({ type: 'join', room: 'mod-inv' })).toMatchObject({ type: 'joined' });
  });

  it('moderation - maximum members: the next user gets room_full; moderators still join', async () => {
    const mod = await connect('f-mod', [], MODERATOR);
    await mod.request({ type: 'settings', room: 'mod-full', maxMembers: 2 });
    await connect('f-1', ['mod-full']);
    await connect('f-2', ['mod-full']);
    const third = await connect('f-3', []);
    const refused = await third.request({ type: 'join', room: 'mod-full' });
    expect(refused).toMatchObject({ type: 'error', code: 'room_full', temporary: true });
    expect(await mod.request({ type: 'join', room: 'mod-full' })).toMatchObject({ type: 'joined' });
  });

  it('moderation - a tenant that hides moderators gets events without the moderator or reason', async () => {
    const mod = await connect('h-mod', ['mod-hide'], MODERATOR, gw.wsUrl, { mhide: true });
    const member = await connect('h-member', ['mod-hide'], MEMBER, gw.wsUrl, { mhide: true });
    const witness = await connect('h-witness', ['mod-hide'], MEMBER, gw.wsUrl, { mhide: true });
    await mod.request({ type: 'kick', room: 'mod-hide', user: 'h-member', reason: 'secret' });
    const event = await witness.waitFor('member.kicked');
    expect(event).toMatchObject({ user: 'h-member' });
    expect(event.by).toBeUndefined();
    expect(event.reason).toBeUndefined();
    expect(await member.waitFor('error')).toMatchObject({ code: 'forbidden', message: 'removed from the room by a moderator' });
  });

  it('moderation - binary frames reach the members holding binary byte-exact; others cannot send and do not receive them', async () => {
    const BINARY: Grants = { 'bin-*': ['subscribe', 'publish', 'binary'] };
    const sender = await connect('bin-sender', ['bin-room'], BINARY);
    const receiver = await connect('bin-receiver', ['bin-room'], BINARY);
    const textOnly = await connect('bin-text', ['bin-room'], { 'bin-*': ['subscribe', 'publish'] });
    const payload = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff));
    sender.sendRaw(Buffer.from(encodeClientBinaryFrame('bin-room', payload)), true);
    const got = await receiver.waitFor(BINARY_FRAME);
    const decoded = decodeMemberBinaryFrame(got.data as Buffer);
    expect(decoded).toBeDefined();
    expect(decoded!.room).toBe('bin-room');
    expect(decoded!.from).toBe('bin-sender');
    expect(Buffer.from(decoded!.payload).equals(payload)).toBe(true);
    textOnly.sendRaw(Buffer.from(encodeClientBinaryFrame('bin-room', payload)), true);
    expect(await textOnly.waitFor('error')).toMatchObject({ code: 'binary_unsupported' });
    // A frame that does not follow the layout is refused too.
    sender.sendRaw(Buffer.from([0xff, 0, 1, 2]), true);
    expect(await sender.waitFor('error')).toMatchObject({ code: 'binary_unsupported' });
    await sender.request({ type: 'publish', room: 'bin-room', data: 'marker' });
    await textOnly.waitFor((f) => f.type === 'message' && f.data === 'marker');
    expect(textOnly.frames.some((f) => f.type === BINARY_FRAME)).toBe(false);
    expect(receiver.frames.filter((f) => f.type === BINARY_FRAME)).toHaveLength(1);
  });

  it('moderation - a muted holder of binary cannot send binary frames either', async () => {
    const grants: Grants = { 'mod-bin': ['subscribe', 'publish', 'binary'] };
    const mod = await connect('mb-mod', ['mod-bin'], { 'mod-bin': ['subscribe', 'publish', 'binary', 'moderate'] });
    const target = await connect('mb-target', ['mod-bin'], grants);
    await mod.request({ type: 'mute', room: 'mod-bin', user: 'mb-target' });
    await target.waitFor('member.muted');
    target.sendRaw(Buffer.from(encodeClientBinaryFrame('mod-bin', Buffer.from('no'))), true);
    expect(await target.waitFor('error')).toMatchObject({ code: 'muted', room: 'mod-bin' });
  });

  it('moderation - per-room roles: a room moderator without the grant moderates; it cannot act on the owner, who can act on it', async () => {
    await moderation.apply('acme', 'club', { kind: 'role', user: 'c-owner', role: 'owner' });
    await moderation.apply('acme', 'club', { kind: 'role', user: 'c-helper', role: 'moderator' });
    const owner = await connect('c-owner', ['club']);
    const helper = await connect('c-helper', ['club']);
    const member = await connect('c-member', ['club']);
    expect(await helper.request({ type: 'mute', room: 'club', user: 'c-member', seconds: 60 })).toMatchObject({ type: 'ack' });
    await expectError(member.request({ type: 'publish', room: 'club', data: 'x' }), 'muted');
    await expectError(helper.request({ type: 'ban', room: 'club', user: 'c-owner' }), 'forbidden');
    await expectError(member.request({ type: 'kick', room: 'club', user: 'c-helper' }), 'forbidden');
    // A grant-made moderator of other rooms is a member here.
    const elsewhere = await connect('c-grant-mod', ['club'], MODERATOR);
    await expectError(elsewhere.request({ type: 'unmute', room: 'club', user: 'c-member' }), 'forbidden');
    expect(await owner.request({ type: 'kick', room: 'club', user: 'c-helper' })).toMatchObject({ type: 'ack' });
    expect(await helper.waitFor((f) => f.type === 'error' && f.room === 'club')).toMatchObject({ code: 'forbidden' });
    // Equal ranks do not act on each other.
    await expectError(owner.request({ type: 'kick', room: 'club', user: 'c-owner' }), 'forbidden');
  });

  it('moderation - a banned user cannot publish, send typing events or read presence without joining either; nor an uninvited one in an invite-only room', async () => {
    const mod = await connect('o-mod', ['mod-out'], MODERATOR);
    const banned = await connect('o-banned', []);
    const stranger = await connect('o-stranger', []);
    await mod.request({ type: 'ban', room: 'mod-out', user: 'o-banned' });
    for (const frame of [
      { type: 'publish', room: 'mod-out', data: 'from outside' },
      { type: 'publish', room: 'mod-out', data: 'typing', ephemeral: true },
      { type: 'presence', room: 'mod-out' },
    ]) await expectError(banned.request(frame), 'banned');
    await mod.request({ type: 'settings', room: 'mod-out', inviteOnly: true });
    await expectError(stranger.request({ type: 'publish', room: 'mod-out', data: 'from outside' }), 'invite_only');
    await expectError(stranger.request({ type: 'presence', room: 'mod-out' }), 'invite_only');
    await mod.request({ type: 'invite', room: 'mod-out', user: 'o-stranger' });
    expect(await stranger.request({ type: 'publish', room: 'mod-out', data: 'invited now' })).toMatchObject({ type: 'ack' });
    expect(mod.frames.some((f) => f.type === 'message' && f.data === 'from outside')).toBe(false);
  });

  it('moderation - slow mode counts messages only: a typing event does not use the slot, and a repeat of the same pid passes', async () => {
    const mod = await connect('t-mod', ['mod-typing'], MODERATOR);
    const member = await connect('t-member', ['mod-typing']);
    await mod.request({ type: 'settings', room: 'mod-typing', slowModeSeconds: 60 });
    await member.waitFor('room.settings');
    expect(await member.request({ type: 'publish', room: 'mod-typing', data: 'typing', ephemeral: true })).toMatchObject({ type: 'ack' });
    const first = await member.request({ type: 'publish', room: 'mod-typing', data: 'hello', pid: 'p-1' });
    expect(first).toMatchObject({ type: 'ack' });
    expect(await member.request({ type: 'publish', room: 'mod-typing', data: 'hello', pid: 'p-1' })).toMatchObject({ type: 'ack', msgId: first.msgId });
    await expectError(member.request({ type: 'publish', room: 'mod-typing', data: 'next', pid: 'p-2' }), 'slow_mode');
    expect(await member.request({ type: 'publish', room: 'mod-typing', data: 'typing', ephemeral: true })).toMatchObject({ type: 'ack' });
  });

  it('moderation - maximum members lets a member open a second connection; a burst of joins cannot pass maxRooms', async () => {
    const mod = await connect('g-mod', [], MODERATOR);
    await mod.request({ type: 'settings', room: 'mod-cap', maxMembers: 1 });
    await connect('g-1', ['mod-cap']);
    const secondTab = await connect('g-1', []);
    expect(await secondTab.request({ type: 'join', room: 'mod-cap' })).toMatchObject({ type: 'joined' });
    await expectError((await connect('g-2', [])).request({ type: 'join', room: 'mod-cap' }), 'room_full');

    const client = await join(gw.wsUrl, await mintToken(keys, { sub: 'g-burst', grants: MEMBER, lim: { messagesPerSecond: 1000, burst: 1000, maxRooms: 5 } }));
    clients.push(client);
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => client.request({ type: 'join', room: `burst-${i}` })));
    expect(replies.filter((r) => r.type === 'joined')).toHaveLength(5);
    expect(replies.filter((r) => r.type === 'error').every((r) => r.code === 'too_many_rooms')).toBe(true);
  });

  it('moderation - the audit log lists every action of these tests in order', async () => {
    const entries = await moderation.audit('acme', { limit: 1000 });
    expect(entries.map((e) => [e.action, e.room, e.target ?? null])).toEqual([
      ['ban', 'mod-ban', 'b-target'],
      ['kick', 'mod-kick', 'k-target'],
      ['mute', 'mod-mute', 'u-target'],
      ['unmute', 'mod-mute', 'u-target'],
      ['settings', 'mod-ro', null],
      ['settings', 'mod-ro', null],
      ['settings', 'mod-slow', null],
      ['settings', 'mod-inv', null],
      ['invite', 'mod-inv', 'i-guest'],
      ['uninvite', 'mod-inv', 'i-guest'],
      ['settings', 'mod-full', null],
      ['kick', 'mod-hide', 'h-member'],
      ['mute', 'mod-bin', 'mb-target'],
      ['mute', 'club', 'c-member'],
      ['kick', 'club', 'c-helper'],
      ['ban', 'mod-out', 'o-banned'],
      ['settings', 'mod-out', null],
      ['invite', 'mod-out', 'o-stranger'],
      ['settings', 'mod-typing', null],
      ['settings', 'mod-cap', null],
    ]);
    expect(entries[0]).toMatchObject({ actor: 'b-mod', reason: 'spam' });
    expect(entries[0]!.details?.until).toBeGreaterThan(0);
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.ts).toBeGreaterThanOrEqual(entries[i - 1]!.ts);
    const metrics = await gw.registry.metrics();
    expect(metrics).toMatch(/parley_gateway_moderation_actions_total\{action="ban"[^}]*\} 2\n/);
    expect(metrics).toMatch(/parley_gateway_moderation_refusals_total\{reason="slow_mode"[^}]*\} 2\n/);
  });
});

describe.each(['memory', 'jetstream'] as const)('moderation with history (%s)', (backendName) => {
  let backend: HistoryBackend;
  let store: ModerationStore;
  beforeAll(async () => {
    backend = await startHistoryBackend(backendName, keys);
    store = createMemoryModerationStore();
  }, 30_000);
  afterAll(async () => {
    await backend.stop();
  });

  it(`moderation ${backendName} - a deleted message is gone from history and from a resume, and members were told`, async () => {
    const gateway = await backend.gateway({ moderation: store });
    const ns = `del${backendName.slice(0, 3)}`;
    const room = 'mod-history';
    const mod = await connect('d-mod', [room], MODERATOR, gateway.wsUrl, { hist: true, ns });
    const member = await connect('d-member', [room], MEMBER, gateway.wsUrl, { hist: true, ns });
    const seqs: number[] = [];
    for (const text of ['first', 'rude', 'third']) seqs.push((await member.request({ type: 'publish', room, data: text })).seq as number);
    for (const text of ['first', 'rude', 'third']) await mod.waitFor((f) => f.type === 'message' && f.data === text);

    expect(await mod.request({ type: 'delete', room, seq: seqs[1], reason: 'insult' })).toMatchObject({ type: 'ack' });
    const told = await member.waitFor('message.deleted');
    expect(told).toMatchObject({ room, deleted: { seq: seqs[1] }, by: 'd-mod', reason: 'insult' });
    expect(told.seq).toBeGreaterThan(seqs[2]!);

    const page = await member.request({ type: 'history', room, limit: 100 });
    expect((page.messages as Array<{ data: unknown }>).map((m) => m.data)).toEqual(['first', 'third']);
    expect(page.last).toBe(told.seq);

    // Resume from before the deleted message, on this gateway (its recent messages) and on a fresh one (the store).
    for (const url of [gateway.wsUrl, (await backend.gateway({ moderation: store })).wsUrl]) {
      const resumed = await connect('d-resume', [], MEMBER, url, { hist: true, ns });
      expect(await resumed.request({ type: 'join', room, since: seqs[0] })).toMatchObject({ type: 'joined' });
      const tombstone = await resumed.waitFor('message.deleted');
      expect(tombstone).toMatchObject({ deleted: { seq: seqs[1] } });
      const replayed = resumed.frames.filter((f) => f.type === 'message').map((f) => f.data);
      expect(replayed).toEqual(['third']);
    }
    await expectError(mod.request({ type: 'delete', room, seq: seqs[1] }), 'not_found');
    await expectError(mod.request({ type: 'delete', room, msgId: 'only-an-id' }), 'bad_frame');

    // A banned user reads no history of the room, joined or not.
    await mod.request({ type: 'ban', room, user: 'd-reader', seconds: 60 });
    const reader = await connect('d-reader', [], MEMBER, gateway.wsUrl, { hist: true, ns });
    await expectError(reader.request({ type: 'history', room, limit: 10 }), 'banned');
    expect((await store.audit(ns, { limit: 10 })).map((e) => e.action)).toEqual(['delete', 'ban']);
    expect((await store.audit(ns, { limit: 10 }))[0]!.details).toEqual({ seq: seqs[1] });
  });
});
