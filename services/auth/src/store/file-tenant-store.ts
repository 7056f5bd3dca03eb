import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ParleyError } from '@parley/protocol';
import { writeAtomic } from '../atomic-file.ts';
import { emptyState, revocationsFromFile, stateOps, type TenantState } from './tenant-state.ts';
import type { TenantStore } from './tenant-store.ts';

/** The folder of the data directory holding one file per tenant (`<ns>.json`). */
export const TENANT_STORE_DIR = 'tenants';
/** The single file of earlier versions: read once, split into per-tenant files, then renamed `tenants.json.migrated`. */
export const LEGACY_TENANT_STORE_FILE = 'tenants.json';

export interface FileTenantStoreOptions {
  /** The data directory (`PARLEY_DATA_DIR`); created when missing. */
  dataDir: string;
  /** @default 'tenants' */
  dirName?: string;
  now?: () => number;
}

/**
 * A tenant store of JSON files, one per tenant (its settings, API keys and revocations): the
 * embedded (single-process) default. A write rewrites only its tenant's file, so one tenant's
 * volume (thousands of revocations) never slows another tenant's writes. Files are loaded once;
 * every write replaces its file atomically (write a temporary file, fsync, rename), so a crash
 * leaves either the old or the new content, never a torn file. A tenant's writes are serialized in
 * call order and a write's promise resolves only once the file is in place. One process per data
 * directory: two processes sharing it would overwrite each other (use the Redis store to scale).
 */
export async function createFileTenantStore(options: FileTenantStoreOptions): Promise<TenantStore> {
  const dir = join(options.dataDir, options.dirName ?? TENANT_STORE_DIR);
  const now = options.now ?? Date.now;
  const nowSeconds = () => Math.floor(now() / 1000);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  /** Each tenant's slice of the state: only its own tenant, keys and revocations. */
  const slices = await load(dir, options.dataDir);
  /** Key hash -> namespace: the lookup on every authenticated request. */
  const keyOwners = new Map<string, string>();
  for (const [ns, slice] of slices) for (const hash of Object.keys(slice.keys)) keyOwners.set(hash, ns);
  const chains = new Map<string, Promise<unknown>>();
  const fileOf = (ns: string) => join(dir, `${ns}.json`);

  /**
   * Applies `op` to a copy of the tenant's slice, persists the copy (or removes the file when the
   * tenant is gone), then makes it current: a failed write changes nothing.
   */
  const mutate = <T>(ns: string, op: (draft: TenantState) => T): Promise<T> => {
    const run = async () => {
      const current = slices.get(ns);
      const draft = current ? structuredClone(current) : emptyState();
      stateOps.prune(draft, nowSeconds());
      const result = op(draft);
      if (Object.hasOwn(draft.tenants, ns)) await writeAtomic(fileOf(ns), `${JSON.stringify(draft)}\n`);
      else if (current) await rm(fileOf(ns), { force: true });
      if (current) for (const hash of Object.keys(current.keys)) keyOwners.delete(hash);
      if (Object.hasOwn(draft.tenants, ns)) {
        slices.set(ns, draft);
        for (const hash of Object.keys(draft.keys)) keyOwners.set(hash, ns);
      } else slices.delete(ns);
      return result;
    };
    const next = (chains.get(ns) ?? Promise.resolve()).then(run, run);
    const settled = next.catch(() => {});
    chains.set(ns, settled);
    void settled.then(() => {
      if (chains.get(ns) === settled) chains.delete(ns);
    });
    return next;
  };
  const sliceOf = (ns: string) => slices.get(ns) ?? emptyState();

  return {
    createTenant: (tenant) => mutate(tenant.ns, (s) => stateOps.createTenant(s, tenant)),
    async getTenant(ns) {
      return stateOps.getTenant(sliceOf(ns), ns);
    },
    async listTenants() {
      return [...slices.values()].flatMap((s) => stateOps.listTenants(s)).sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
    },
    replaceTenant: (tenant) => mutate(tenant.ns, (s) => stateOps.replaceTenant(s, tenant)),
    deleteTenant: (ns) => mutate(ns, (s) => stateOps.deleteTenant(s, ns)),
    addApiKey: (record) => {
      const owner = keyOwners.get(record.hash);
      const idTaken = [...slices.entries()].some(([ns, s]) => ns !== record.ns && stateOps.listApiKeys(s, ns).some((k) => k.id === record.id));
      if ((owner !== undefined && owner !== record.ns) || idTaken) {
        return Promise.reject(new ParleyError('conflict', 'an API key with this id or hash already exists'));
      }
      return mutate(record.ns, (s) => stateOps.addApiKey(s, record));
    },
    async findApiKeyByHash(hash) {
      const ns = keyOwners.get(hash);
      return ns === undefined ? undefined : stateOps.findApiKeyByHash(sliceOf(ns), hash);
    },
    async listApiKeys(ns) {
      return stateOps.listApiKeys(sliceOf(ns), ns);
    },
    deleteApiKey: (ns, id) => mutate(ns, (s) => stateOps.deleteApiKey(s, ns, id)),
    revokeUser: (ns, user, before, retainSeconds, maxPerTenant) =>
      mutate(ns, (s) => {
        // A revocation needs its tenant: without one there is no file to keep it in, and no
        // API key could have asked for it.
        if (!Object.hasOwn(s.tenants, ns)) throw new ParleyError('not_found', `tenant ${ns} does not exist`);
        stateOps.revokeUser(s, ns, user, before, retainSeconds, nowSeconds(), maxPerTenant);
      }),
    async getUserRevocation(ns, user) {
      return stateOps.getUserRevocation(sliceOf(ns), ns, user, nowSeconds());
    },
    async ping() {},
    async close() {
      await Promise.all(chains.values());
    },
  };
}

/** Reads every tenant file; a legacy single file is split into per-tenant files first. */
async function load(dir: string, dataDir: string): Promise<Map<string, TenantState>> {
  const slices = new Map<string, TenantState>();
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const slice = parse(await readFile(join(dir, name), 'utf8'), join(dir, name));
    for (const ns of Object.keys(slice.tenants)) slices.set(ns, slice);
  }
  const legacyPath = join(dataDir, LEGACY_TENANT_STORE_FILE);
  let legacyText: string | undefined;
  try {
    legacyText = await readFile(legacyPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (legacyText === undefined) return slices;
  const legacy = parse(legacyText, legacyPath);
  for (const [ns, tenant] of Object.entries(legacy.tenants)) {
    if (slices.has(ns)) continue;
    const slice = emptyState();
    slice.tenants[ns] = tenant;
    for (const [hash, key] of Object.entries(legacy.keys)) if (key.ns === ns) slice.keys[hash] = key;
    if (Object.hasOwn(legacy.revocations, ns)) slice.revocations[ns] = legacy.revocations[ns]!;
    await writeAtomic(join(dir, `${ns}.json`), `${JSON.stringify(slice)}\n`);
    slices.set(ns, slice);
  }
  await rename(legacyPath, `${legacyPath}.migrated`);
  return slices;
}

function parse(text: string, path: string): TenantState {
  const parsed = JSON.parse(text) as Partial<TenantState>;
  if (parsed.version !== 1) throw new Error(`${path}: unsupported tenant store version ${String(parsed.version)}`);
  return { ...emptyState(), ...parsed, revocations: revocationsFromFile(parsed.revocations), version: 1 };
}
