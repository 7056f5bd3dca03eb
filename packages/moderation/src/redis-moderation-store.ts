import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_ROOM_SETTINGS, ParleyError, roomSettingsSchema, subjectToken, type RoomSettings } from '@parley/protocol';
import { DEFAULT_AUDIT_ENTRIES_PER_TENANT, emptyRoomModeration, inForce, type AuditEntry, type ModerationStore, type RoomModeration, type RoomRole, type Until } from './moderation-store.ts';

const FOREVER = 'forever';
/** @default 500: how long a call waits for a connection still being made before it fails. */
export const DEFAULT_MODERATION_READY_WAIT_MS = 500;

/**
 * Moderation in Redis, shared by every gateway and auth. A room's state is five keys in one hash
 * slot (`parley:mod:{<ns>:<room>}:…`, so it works on a Redis Cluster): settings, bans and mutes
 * (user → until), invites, roles. A tenant's audit log is a stream capped at
 * `auditEntriesPerTenant` entries. Expired bans and mutes are left out when read and removed then.
 */
export function createRedisModerationStore(
  redis: Redis | Cluster,
  options: { auditEntriesPerTenant?: number; now?: () => number; readyWaitMs?: number; onError?: (error: Error) => void } = {},
): ModerationStore {
  // Connection errors surface as failed calls (and through `onError`); without a listener ioredis would print them.
  redis.on('error', (error: Error) => options.onError?.(error));
  const now = options.now ?? Date.now;
  const maxAudit = options.auditEntriesPerTenant ?? DEFAULT_AUDIT_ENTRIES_PER_TENANT;
  const keys = (ns: string, room: string) => {
    const base = `parley:mod:{${ns}:${subjectToken(room)}}`;
    return { settings: `${base}:settings`, bans: `${base}:bans`, mutes: `${base}:mutes`, invites: `${base}:invites`, roles: `${base}:roles` };
  };
  const auditKey = (ns: string) => `parley:mod-audit:{${ns}}`;
  const unavailable = (error: unknown) => (error instanceof ParleyError ? error : new ParleyError('moderation_unavailable', undefined, { cause: error }));
  // Parley's clients fail fast while disconnected (no offline queue): a call made while the
  // connection is still being made (just after start) waits for it, briefly, instead of failing.
  // One wait shared by every call made meanwhile (many joins at once must not each add a listener).
  let waiting: Promise<boolean> | undefined;
  const ready = async () => {
    if (redis.status === 'ready') return;
    if (redis.status === 'wait') redis.connect().catch(() => undefined);
    const connected = await (waiting ??= new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        waiting = undefined;
        clearTimeout(timer);
        redis.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(done, options.readyWaitMs ?? DEFAULT_MODERATION_READY_WAIT_MS, false);
      redis.once('ready', onReady);
    }));
    if (!connected) throw new ParleyError('moderation_unavailable', 'the moderation store is not connected');
  };

  /** Deletes a field only if it still holds the value read: a ban renewed since is kept. */
  const deleteIfUnchanged = (key: string, field: string, value: string) =>
    redis.eval("if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0", 1, key, field, value).catch(() => undefined);
  const untils = (hash: Record<string, string>, t: number, expired: string[]) => {
    const map = new Map<string, Until>();
    for (const [user, raw] of Object.entries(hash)) {
      const until = raw === FOREVER ? null : Number(raw);
      if (inForce(until, t)) map.set(user, until);
      else expired.push(user);
    }
    return map;
  };
  const readSettings = (hash: Record<string, string>): RoomSettings => {
    const parsed = roomSettingsSchema.partial().safeParse(Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, JSON.parse(v) as unknown])));
    return { ...DEFAULT_ROOM_SETTINGS, ...(parsed.success ? parsed.data : {}) };
  };

  return {
    kind: 'redis',
    async room(ns, room): Promise<RoomModeration> {
      const k = keys(ns, room);
      let results;
      try {
        await ready();
        results = await redis.pipeline().hgetall(k.settings).hgetall(k.bans).hgetall(k.mutes).smembers(k.invites).hgetall(k.roles).exec();
      } catch (error) {
        throw unavailable(error);
      }
      const failed = results?.find(([error]) => error);
      if (!results || failed) throw unavailable(failed?.[0]);
      const [settings, bans, mutes, invites, roles] = results.map(([, value]) => value) as [Record<string, string>, Record<string, string>, Record<string, string>, string[], Record<string, string>];
      const t = now();
      const expiredBans: string[] = [];
      const expiredMutes: string[] = [];
      const state = emptyRoomModeration(readSettings(settings));
      state.bans = untils(bans, t, expiredBans);
      state.mutes = untils(mutes, t, expiredMutes);
      state.invites = new Set(invites);
      for (const [user, role] of Object.entries(roles)) if (role === 'owner' || role === 'moderator') state.roles.set(user, role as RoomRole);
      for (const user of expiredBans) void deleteIfUnchanged(k.bans, user, bans[user]!);
      for (const user of expiredMutes) void deleteIfUnchanged(k.mutes, user, mutes[user]!);
      return state;
    },
    async apply(ns, room, change) {
      const k = keys(ns, room);
      try {
        await ready();
        switch (change.kind) {
          case 'ban':
            await redis.hset(k.bans, change.user, change.until === null ? FOREVER : String(change.until));
            return;
          case 'unban':
            await redis.hdel(k.bans, change.user);
            return;
          case 'mute':
            await redis.hset(k.mutes, change.user, change.until === null ? FOREVER : String(change.until));
            return;
          case 'unmute':
            await redis.hdel(k.mutes, change.user);
            return;
          case 'invite':
            await redis.sadd(k.invites, change.user);
            return;
          case 'uninvite':
            await redis.srem(k.invites, change.user);
            return;
          case 'role':
            if (change.role) await redis.hset(k.roles, change.user, change.role);
            else await redis.hdel(k.roles, change.user);
            return;
          case 'settings': {
            const fields = Object.entries(change.settings).flatMap(([key, value]) => (value === undefined ? [] : [key, JSON.stringify(value)]));
            if (fields.length > 0) await redis.hset(k.settings, ...fields);
            return;
          }
        }
      } catch (error) {
        throw unavailable(error);
      }
    },
    async record(ns, entry) {
      try {
        await ready();
        // Exact, not `~`: approximate trimming drops whole stream nodes (100 entries) only, so a
        // small cap would not hold at all. Moderation actions are rare; the exact trim is cheap.
        const id = await redis.xadd(auditKey(ns), 'MAXLEN', String(maxAudit), '*', 'entry', JSON.stringify(entry));
        return { id: id!, ...entry };
      } catch (error) {
        throw unavailable(error);
      }
    },
    async audit(ns, { after, limit }) {
      if (after !== undefined && !/^\d{1,20}-\d{1,20}$/.test(after)) throw new ParleyError('bad_frame', 'after: the id of an audit entry');
      let rows: Array<[string, string[]]>;
      try {
        await ready();
        rows = await redis.xrange(auditKey(ns), after === undefined ? '-' : `(${after}`, '+', 'COUNT', limit);
      } catch (error) {
        throw unavailable(error);
      }
      return rows.map(([id, fields]) => ({ id, ...(JSON.parse(fields[1] ?? '{}') as Omit<AuditEntry, 'id'>) }));
    },
    async close() {},
  };
}
