import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../atomic-file.ts';
import { emptyState, stateOps, type TenantState } from './tenant-state.ts';
import type { TenantStore } from './tenant-store.ts';

export const TENANT_STORE_FILE = 'tenants.json';

export interface FileTenantStoreOptions {
  /** The data directory (`PARLEY_DATA_DIR`); created when missing. */
  dataDir: string;
  /** @default 'tenants.json' */
  fileName?: string;
  now?: () => number;
}

/**
 * A tenant store in one JSON file: the embedded (single-process) default. The file is loaded
 * once; every write replaces it atomically (write a temporary file, fsync, rename), so a crash
 * leaves either the old or the new content, never a torn file. Writes are serialized in call
 * order and a write's promise resolves only once the file is in place. One process per file: two
 * processes sharing a data directory would overwrite each other (use the Redis store to scale).
 */
export async function createFileTenantStore(options: FileTenantStoreOptions): Promise<TenantStore> {
  const path = join(options.dataDir, options.fileName ?? TENANT_STORE_FILE);
  const now = options.now ?? Date.now;
  const nowSeconds = () => Math.floor(now() / 1000);
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  let state = await load(path);
  let chain: Promise<unknown> = Promise.resolve();

  /** Applies `op` to a copy, persists the copy, then makes it current: a failed write changes nothing. */
  const mutate = <T>(op: (draft: TenantState) => T): Promise<T> => {
    const run = async () => {
      const draft = structuredClone(state);
      stateOps.prune(draft, nowSeconds());
      const result = op(draft);
      await writeAtomic(path, `${JSON.stringify(draft, null, 2)}\n`);
      state = draft;
      return result;
    };
    const next = chain.then(run, run);
    chain = next.catch(() => {});
    return next;
  };

  return {
    createTenant: (tenant) => mutate((s) => stateOps.createTenant(s, tenant)),
    async getTenant(ns) {
      return stateOps.getTenant(state, ns);
    },
    async listTenants() {
      return stateOps.listTenants(state);
    },
    replaceTenant: (tenant) => mutate((s) => stateOps.replaceTenant(s, tenant)),
    deleteTenant: (ns) => mutate((s) => stateOps.deleteTenant(s, ns)),
    addApiKey: (record) => mutate((s) => stateOps.addApiKey(s, record)),
    async findApiKeyByHash(hash) {
      return stateOps.findApiKeyByHash(state, hash);
    },
    async listApiKeys(ns) {
      return stateOps.listApiKeys(state, ns);
    },
    deleteApiKey: (ns, id) => mutate((s) => stateOps.deleteApiKey(s, ns, id)),
    revokeUser: (ns, user, before, retainSeconds) => mutate((s) => stateOps.revokeUser(s, ns, user, before, retainSeconds, nowSeconds())),
    async getUserRevocation(ns, user) {
      return stateOps.getUserRevocation(state, ns, user, nowSeconds());
    },
    async ping() {},
    async close() {
      await chain;
    },
  };
}

async function load(path: string): Promise<TenantState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<TenantState>;
  if (parsed.version !== 1) throw new Error(`${path}: unsupported tenant store version ${String(parsed.version)}`);
  return { ...emptyState(), ...parsed, version: 1 };
}
