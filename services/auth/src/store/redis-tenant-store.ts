import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ParleyError } from '@parley/protocol';
import { tooManyRevocations } from './tenant-state.ts';
import type { ApiKeyRecord, Tenant, TenantStore } from './tenant-store.ts';

export const DEFAULT_REDIS_KEY_PREFIX = 'parley:auth:';
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2000;
export const DEFAULT_REDIS_CONNECT_WAIT_MS = 10_000;

export interface RedisTenantStoreOptions {
  /** `redis://…` (`REDIS_URL`). Ignored when `redis` is given. */
  url?: string;
  /** A client to use instead of creating one; the store then does not close it. */
  redis?: Redis;
  /** @default 'parley:auth:' */
  prefix?: string;
  /** Fail a command after this long instead of waiting for a reconnect. @default 2000 */
  commandTimeoutMs?: number;
  /** How long the factory waits for the first connection before rejecting. @default 10000 */
  connectWaitMs?: number;
  /** Connection errors (ioredis reconnects by itself); without it they are dropped. */
  onError?: (error: Error) => void;
  now?: () => number;
}

/*
 * Layout (all under the prefix):
 *   store-id             a random id written once: gone or changed = the data was lost (readiness)
 *   tenants              SET of namespaces
 *   tenant:<ns>          JSON Tenant
 *   keys:<ns>            HASH key id -> JSON ApiKeyRecord
 *   keyhash:<sha256>     JSON ApiKeyRecord (the per-request lookup: one GET)
 *   rev:<ns>             HASH user -> revoked-before (unix s)
 *   revexp:<ns>          ZSET user scored by retention end (unix s)
 * Multi-key updates run as Lua scripts so they are atomic. The scripts touch keys they derive
 * from a prefix, which a single Redis (with replicas or Sentinel) allows and Redis Cluster does not.
 */
const CREATE_TENANT = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then redis.call('SADD', KEYS[2], ARGV[2]) return 1 end
return 0`;
const DELETE_TENANT = `
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
for _, r in ipairs(redis.call('HVALS', KEYS[3])) do redis.call('DEL', ARGV[2] .. cjson.decode(r).hash) end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
return 1`;
const ADD_KEY = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[2])
return 1`;
const DELETE_KEY = `
local r = redis.call('HGET', KEYS[1], ARGV[1])
if not r then return 0 end
redis.call('DEL', ARGV[2] .. cjson.decode(r).hash)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1`;
const REVOKE_USER = `
for _, u in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])) do redis.call('HDEL', KEYS[1], u) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
if tonumber(ARGV[5]) >= 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return -1 end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1e18') then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
if tonumber(ARGV[3]) > tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or '0') then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], last[2])
redis.call('EXPIREAT', KEYS[2], last[2])
return 1`;
const GET_REVOCATION = `
local exp = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not exp or tonumber(exp) <= tonumber(ARGV[2]) then return false end
return redis.call('HGET', KEYS[1], ARGV[1])`;

/**
 * The tenant store on Redis: the scaled default, shared by every auth replica. Fails fast during
 * an outage (no offline queue, a command timeout) with ParleyError `unavailable` rather than
 * piling commands up in memory; ioredis reconnects by itself.
 */
export async function createRedisTenantStore(options: RedisTenantStoreOptions): Promise<TenantStore> {
  const owned = !options.redis;
  const redis =
    options.redis ??
    new Redis(options.url ?? 'redis://127.0.0.1:6379', {
      enableOfflineQueue: false,
      commandTimeout: options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
      connectTimeout: 5000,
      lazyConnect: true,
    });
  // Without a listener an unreachable Redis would be an unhandled 'error' event.
  const onError = (error: Error) => options.onError?.(error);
  redis.on('error', onError);
  if (owned) await connect(redis, options.connectWaitMs ?? DEFAULT_REDIS_CONNECT_WAIT_MS);

  const p = options.prefix ?? DEFAULT_REDIS_KEY_PREFIX;
  const k = {
    tenants: `${p}tenants`,
    tenant: (ns: string) => `${p}tenant:${ns}`,
    keys: (ns: string) => `${p}keys:${ns}`,
    keyHashPrefix: `${p}keyhash:`,
    keyHash: (hash: string) => `${p}keyhash:${hash}`,
    rev: (ns: string) => `${p}rev:${ns}`,
    revExp: (ns: string) => `${p}revexp:${ns}`,
  };
  const now = options.now ?? Date.now;
  const nowSeconds = () => Math.floor(now() / 1000);
  const script = (source: string, keys: string[], args: Array<string | number>) => redis.eval(source, keys.length, ...keys, ...args);

  /** Maps transport failures to `unavailable`; ParleyErrors raised here pass through. */
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof ParleyError) throw error;
      throw new ParleyError('unavailable', 'the tenant store (Redis) is unavailable; retry shortly', { cause: error });
    }
  };

  // Written once per store (NX), never expires: if it disappears, Redis lost its data (restarted
  // without persistence, flushed, failed over to an empty replica) and with it every tenant.
  const storeIdKey = `${p}store-id`;
  const storeId = await call(async () => {
    await redis.set(storeIdKey, randomUUID(), 'NX');
    return redis.get(storeIdKey);
  });

  return {
    createTenant: (tenant) =>
      call(async () => {
        const created = await script(CREATE_TENANT, [k.tenant(tenant.ns), k.tenants], [JSON.stringify(tenant), tenant.ns]);
        if (created !== 1) throw new ParleyError('conflict', `tenant ${tenant.ns} already exists`);
      }),
    getTenant: (ns) =>
      call(async () => {
        const json = await redis.get(k.tenant(ns));
        return json === null ? undefined : (JSON.parse(json) as Tenant);
      }),
    listTenants: () =>
      call(async () => {
        const names = (await redis.smembers(k.tenants)).sort();
        if (names.length === 0) return [];
        const values = await redis.mget(names.map(k.tenant));
        return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Tenant);
      }),
    replaceTenant: (tenant) =>
      call(async () => (await redis.set(k.tenant(tenant.ns), JSON.stringify(tenant), 'XX')) === 'OK'),
    deleteTenant: (ns) =>
      call(async () => (await script(DELETE_TENANT, [k.tenant(ns), k.tenants, k.keys(ns), k.rev(ns), k.revExp(ns)], [ns, k.keyHashPrefix])) === 1),
    addApiKey: (record) =>
      call(async () => {
        const result = await script(ADD_KEY, [k.tenant(record.ns), k.keys(record.ns), k.keyHash(record.hash)], [record.id, JSON.stringify(record)]);
        if (result === -1) throw new ParleyError('not_found', `tenant ${record.ns} does not exist`);
        if (result !== 1) throw new ParleyError('conflict', 'an API key with this id or hash already exists');
      }),
    findApiKeyByHash: (hash) =>
      call(async () => {
        const json = await redis.get(k.keyHash(hash));
        return json === null ? undefined : (JSON.parse(json) as ApiKeyRecord);
      }),
    listApiKeys: (ns) =>
      call(async () =>
        Object.values(await redis.hgetall(k.keys(ns)))
          .map((v) => JSON.parse(v) as ApiKeyRecord)
          .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1)),
      ),
    deleteApiKey: (ns, id) => call(async () => (await script(DELETE_KEY, [k.keys(ns)], [id, k.keyHashPrefix])) === 1),
    revokeUser: (ns, user, before, retainSeconds, maxPerTenant) =>
      call(async () => {
        const t = nowSeconds();
        const result = await script(REVOKE_USER, [k.rev(ns), k.revExp(ns)], [user, before, t + retainSeconds, t, maxPerTenant ?? -1]);
        if (result === -1) throw tooManyRevocations(maxPerTenant!);
      }),
    getUserRevocation: (ns, user) =>
      call(async () => {
        const value = await script(GET_REVOCATION, [k.rev(ns), k.revExp(ns)], [user, nowSeconds()]);
        return typeof value === 'string' ? Number(value) : undefined;
      }),
    ping: () =>
      call(async () => {
        if ((await redis.get(storeIdKey)) !== storeId) {
          throw new ParleyError('unavailable', 'the tenant store lost its data since this process started (Redis restarted without persistence, was flushed, or failed over to an empty replica): tenants and API keys are gone; restore them from a backup, then restart auth');
        }
      }),
    async close() {
      redis.off('error', onError);
      if (owned) redis.disconnect();
    },
  };
}

/** Waits for the first `ready` (ioredis keeps retrying meanwhile), or gives up after `waitMs`. */
async function connect(redis: Redis, waitMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      new Promise<void>((resolve) => {
        redis.once('ready', () => resolve());
        redis.connect().catch(() => {});
      }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no connection to Redis within ${waitMs} ms`)), waitMs);
      }),
    ]);
  } catch (error) {
    redis.disconnect();
    throw new ParleyError('unavailable', `the tenant store (Redis) is unreachable: ${(error as Error).message}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
