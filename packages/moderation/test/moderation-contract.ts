import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_ROOM_SETTINGS } from '@parley/protocol';
import type { AuditEntry, ModerationStore } from '../src/index.ts';

/** The audit cap every implementation is built with in this suite. */
export const AUDIT_CAP = 5;
export const START = Date.UTC(2026, 0, 1);

export interface ModerationFixture {
  store: ModerationStore;
  /** Moves the store's clock on (bans and mutes expire by it). */
  advance(ms: number): void;
  /** Closes the store and opens it again on the same state; absent where nothing outlives the store. */
  reopen?(): Promise<ModerationStore>;
  teardown(): Promise<void>;
}

const entry = (room: string, target: string): Omit<AuditEntry, 'id'> => ({ ts: START, room, action: 'invite', actor: '$server', target });

/**
 * What every ModerationStore guarantees, run against each implementation: settings merged per
 * room, bans and mutes that lapse at their `until`, invites, roles, and a per-tenant audit log in
 * order, paged by `after` and capped at its newest entries. Each fixture is built with
 * `auditEntriesPerTenant: AUDIT_CAP` and a clock starting at START.
 */
/** `durable`: the store keeps its state when reopened (file, Redis), and the contract checks it does. */
export function moderationContract(name: string, setup: () => Promise<ModerationFixture>, options: { durable: boolean }): void {
  describe(`moderation store contract: ${name}`, () => {
    let f: ModerationFixture;
    beforeEach(async () => {
      f = await setup();
    });
    afterEach(async () => {
      await f.teardown();
    });

    it(`${name} - a room never touched has the default settings and nothing else`, async () => {
      expect(await f.store.room('acme', 'lobby')).toEqual({ settings: DEFAULT_ROOM_SETTINGS, bans: new Map(), mutes: new Map(), invites: new Set(), roles: new Map() });
    });

    it(`${name} - settings: a change sets only the settings it names; rooms and tenants are apart`, async () => {
      await f.store.apply('acme', 'lobby', { kind: 'settings', settings: { inviteOnly: true, slowModeSeconds: 30 } });
      await f.store.apply('acme', 'lobby', { kind: 'settings', settings: { slowModeSeconds: 0, maxMembers: 10 } });
      expect((await f.store.room('acme', 'lobby')).settings).toEqual({ inviteOnly: true, readOnly: false, slowModeSeconds: 0, maxMembers: 10 });
      expect((await f.store.room('acme', 'hall')).settings).toEqual(DEFAULT_ROOM_SETTINGS);
      expect((await f.store.room('other', 'lobby')).settings).toEqual(DEFAULT_ROOM_SETTINGS);
    });

    it(`${name} - bans: in force until their until, for ever with null, gone when lifted`, async () => {
      await f.store.apply('acme', 'lobby', { kind: 'ban', user: 'mallory', until: START + 60_000 });
      await f.store.apply('acme', 'lobby', { kind: 'ban', user: 'eve', until: null });
      await f.store.apply('acme', 'café/au-lait', { kind: 'ban', user: 'bob', until: null });
      expect((await f.store.room('acme', 'lobby')).bans).toEqual(new Map([['mallory', START + 60_000], ['eve', null]]));
      f.advance(59_999);
      expect([...(await f.store.room('acme', 'lobby')).bans.keys()].sort()).toEqual(['eve', 'mallory']);
      f.advance(1);
      expect((await f.store.room('acme', 'lobby')).bans).toEqual(new Map([['eve', null]]));
      // A new ban replaces the old one, here with a shorter one.
      await f.store.apply('acme', 'lobby', { kind: 'ban', user: 'eve', until: START + 120_000 });
      expect((await f.store.room('acme', 'lobby')).bans).toEqual(new Map([['eve', START + 120_000]]));
      await f.store.apply('acme', 'lobby', { kind: 'unban', user: 'eve' });
      await f.store.apply('acme', 'lobby', { kind: 'unban', user: 'nobody' });
      expect((await f.store.room('acme', 'lobby')).bans.size).toBe(0);
      expect((await f.store.room('acme', 'café/au-lait')).bans).toEqual(new Map([['bob', null]]));
      expect((await f.store.room('other', 'lobby')).bans.size).toBe(0);
    });

    it(`${name} - mutes: in force until their until, for ever with null, gone when lifted`, async () => {
      await f.store.apply('acme', 'lobby', { kind: 'mute', user: 'trol', until: START + 1000 });
      await f.store.apply('acme', 'lobby', { kind: 'mute', user: 'loud', until: null });
      expect((await f.store.room('acme', 'lobby')).mutes).toEqual(new Map([['trol', START + 1000], ['loud', null]]));
      expect((await f.store.room('acme', 'lobby')).bans.size).toBe(0);
      f.advance(1000);
      expect((await f.store.room('acme', 'lobby')).mutes).toEqual(new Map([['loud', null]]));
      await f.store.apply('acme', 'lobby', { kind: 'unmute', user: 'loud' });
      expect((await f.store.room('acme', 'lobby')).mutes.size).toBe(0);
    });

    it(`${name} - invites: added once, withdrawn`, async () => {
      await f.store.apply('acme', 'lobby', { kind: 'invite', user: 'bob' });
      await f.store.apply('acme', 'lobby', { kind: 'invite', user: 'bob' });
      await f.store.apply('acme', 'lobby', { kind: 'invite', user: 'ann' });
      expect([...(await f.store.room('acme', 'lobby')).invites].sort()).toEqual(['ann', 'bob']);
      await f.store.apply('acme', 'lobby', { kind: 'uninvite', user: 'bob' });
      expect((await f.store.room('acme', 'lobby')).invites).toEqual(new Set(['ann']));
      expect((await f.store.room('acme', 'hall')).invites.size).toBe(0);
    });

    it(`${name} - roles: set, replaced, removed with null`, async () => {
      await f.store.apply('acme', 'lobby', { kind: 'role', user: 'olga', role: 'owner' });
      await f.store.apply('acme', 'lobby', { kind: 'role', user: 'carol', role: 'moderator' });
      expect((await f.store.room('acme', 'lobby')).roles).toEqual(new Map([['olga', 'owner'], ['carol', 'moderator']]));
      await f.store.apply('acme', 'lobby', { kind: 'role', user: 'carol', role: 'owner' });
      await f.store.apply('acme', 'lobby', { kind: 'role', user: 'olga', role: null });
      expect((await f.store.room('acme', 'lobby')).roles).toEqual(new Map([['carol', 'owner']]));
    });

    it(`${name} - room() answers a copy: changing it changes nothing stored`, async () => {
      await f.store.apply('acme', 'lobby', { kind: 'invite', user: 'bob' });
      const state = await f.store.room('acme', 'lobby');
      state.invites.add('mallory');
      state.settings.readOnly = true;
      state.bans.set('bob', null);
      expect(await f.store.room('acme', 'lobby')).toEqual({ settings: DEFAULT_ROOM_SETTINGS, bans: new Map(), mutes: new Map(), invites: new Set(['bob']), roles: new Map() });
    });

    it(`${name} - audit: entries in order with increasing ids, paged by after and limit, per tenant`, async () => {
      const recorded: AuditEntry[] = [];
      for (const user of ['u1', 'u2', 'u3', 'u4']) recorded.push(await f.store.record('acme', entry('lobby', user)));
      await f.store.record('other', entry('lobby', 'x1'));
      expect(recorded[0]).toEqual({ id: recorded[0]!.id, ...entry('lobby', 'u1') });
      const ids = recorded.map((e) => e.id);
      expect(new Set(ids).size).toBe(4);

      const all = await f.store.audit('acme', { limit: 100 });
      expect(all).toEqual(recorded);
      expect(await f.store.audit('acme', { limit: 2 })).toEqual(recorded.slice(0, 2));
      expect(await f.store.audit('acme', { after: ids[1], limit: 100 })).toEqual(recorded.slice(2));
      expect(await f.store.audit('acme', { after: ids[1], limit: 1 })).toEqual(recorded.slice(2, 3));
      expect(await f.store.audit('acme', { after: ids[3], limit: 100 })).toEqual([]);
      expect((await f.store.audit('other', { limit: 100 })).map((e) => e.target)).toEqual(['x1']);
      expect(await f.store.audit('nobody', { limit: 100 })).toEqual([]);
    });

    it(`${name} - audit: a tenant keeps its newest ${AUDIT_CAP} entries; paging from a dropped id starts at the oldest kept`, async () => {
      const recorded: AuditEntry[] = [];
      for (let i = 1; i <= AUDIT_CAP + 7; i++) recorded.push(await f.store.record('acme', entry('lobby', `u${i}`)));
      const kept = recorded.slice(-AUDIT_CAP);
      expect(await f.store.audit('acme', { limit: 100 })).toEqual(kept);
      expect(await f.store.audit('acme', { after: recorded[0]!.id, limit: 100 })).toEqual(kept);
      expect(await f.store.audit('acme', { after: kept[2]!.id, limit: 100 })).toEqual(kept.slice(3));
    });

    if (options.durable) it(`${name} - what is stored outlives the store when it is reopened`, async () => {
      if (!f.reopen) throw new Error('a durable store fixture needs reopen()');
      await f.store.apply('acme', 'lobby', { kind: 'settings', settings: { readOnly: true } });
      await f.store.apply('acme', 'lobby', { kind: 'ban', user: 'mallory', until: null });
      await f.store.apply('acme', 'lobby', { kind: 'ban', user: 'brief', until: START + 1000 });
      await f.store.apply('acme', 'lobby', { kind: 'mute', user: 'trol', until: START + 60_000 });
      await f.store.apply('acme', 'lobby', { kind: 'invite', user: 'bob' });
      await f.store.apply('acme', 'lobby', { kind: 'role', user: 'olga', role: 'owner' });
      const first = await f.store.record('acme', entry('lobby', 'u1'));
      f.advance(1000);

      f.store = await f.reopen();
      expect(await f.store.room('acme', 'lobby')).toEqual({
        settings: { ...DEFAULT_ROOM_SETTINGS, readOnly: true },
        bans: new Map([['mallory', null]]),
        mutes: new Map([['trol', START + 60_000]]),
        invites: new Set(['bob']),
        roles: new Map([['olga', 'owner']]),
      });
      const second = await f.store.record('acme', entry('lobby', 'u2'));
      expect(second.id > first.id).toBe(true);
      expect((await f.store.audit('acme', { limit: 100 })).map((e) => e.target)).toEqual(['u1', 'u2']);
    });
  });
}
