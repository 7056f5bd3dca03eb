import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NAMESPACE_PATTERN, ParleyError } from '@parley/protocol';
import { addKnownApiKey, createApiKey, hashApiKey } from './api-keys.ts';
import { writeAtomic } from './atomic-file.ts';
import { applySettingsPatch, defaultTenantSettings, type TenantSettingsPatch } from './settings.ts';
import type { TenantStore } from './store/tenant-store.ts';

/** The file in the data directory holding the generated demo key in plain text (mode 0600). */
export const DEMO_API_KEY_FILE = 'demo-api-key';
export const DEFAULT_DEMO_NAMESPACE = 'demo';
/** A key chosen in `PARLEY_DEMO_API_KEY` must be at least this long. */
export const MIN_DEMO_API_KEY_LENGTH = 8;

export interface EnsureDemoTenantOptions {
  /** `PARLEY_DEMO_NAMESPACE`. */
  namespace: string;
  /** `PARLEY_DEMO_API_KEY`: use this key (its hash is stored) instead of generating one. */
  apiKey?: string;
  /**
   * `PARLEY_DATA_DIR`: where a generated key is kept in plain text (`demo-api-key`, mode 0600) so
   * that a developer can see it again on every start. Only the demo tenant's key is ever kept
   * this way; without a data directory a generated key is returned once and not kept.
   */
  dataDir?: string;
  /** Settings of a newly created demo tenant. @default the tenant defaults (any Origin) */
  settings?: TenantSettingsPatch;
}

export interface DemoTenantResult {
  /**
   * The demo key: the configured one, the kept one, or one generated now. Undefined only when
   * the tenant already had keys, none was configured and there is no data directory to keep one.
   */
  apiKey?: string;
  /** True when the tenant was created by this call. */
  created: boolean;
  /** True when the key's hash was stored by this call (a new key, or the configured one first seen). */
  keyCreated: boolean;
  /** Where the generated key is kept, when it is. */
  apiKeyFile?: string;
}

/**
 * Makes sure the demo tenant and its API key exist; idempotent, safe on every start. A kept key
 * that is no longer valid (revoked by an operator, or the store was emptied) is replaced by a new
 * one rather than silently restored.
 */
export async function ensureDemoTenant(store: TenantStore, options: EnsureDemoTenantOptions): Promise<DemoTenantResult> {
  const ns = options.namespace;
  if (!NAMESPACE_PATTERN.test(ns)) throw new Error(`demo tenant: "${ns}" is not a valid namespace`);
  let created = false;
  if (!(await store.getTenant(ns))) {
    const at = new Date().toISOString();
    try {
      await store.createTenant({ ns, settings: applySettingsPatch(defaultTenantSettings(), options.settings ?? {}), createdAt: at, updatedAt: at });
      created = true;
    } catch (error) {
      // Another replica created it first.
      if (!(error instanceof ParleyError && error.code === 'conflict')) throw error;
    }
  }

  if (options.apiKey !== undefined) {
    const key = options.apiKey;
    if (key.length < MIN_DEMO_API_KEY_LENGTH || key.length > 512 || /\s/.test(key)) {
      throw new Error(`demo tenant: PARLEY_DEMO_API_KEY must be ${MIN_DEMO_API_KEY_LENGTH}-512 characters without spaces`);
    }
    const existing = await store.findApiKeyByHash(hashApiKey(key));
    if (existing && existing.ns !== ns) throw new Error(`demo tenant: PARLEY_DEMO_API_KEY is already a key of tenant ${existing.ns}`);
    if (!existing) await addKnownApiKey(store, ns, key);
    return { apiKey: key, created, keyCreated: !existing };
  }

  if (options.dataDir !== undefined) {
    const file = join(options.dataDir, DEMO_API_KEY_FILE);
    const kept = await readKeptKey(file);
    if (kept !== undefined && (await store.findApiKeyByHash(hashApiKey(kept)))?.ns === ns) {
      return { apiKey: kept, created, keyCreated: false, apiKeyFile: file };
    }
    const { key } = await createApiKey(store, ns);
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    await writeAtomic(file, `${key}\n`, 0o600);
    return { apiKey: key, created, keyCreated: true, apiKeyFile: file };
  }

  if ((await store.listApiKeys(ns)).length > 0) return { created, keyCreated: false };
  const { key } = await createApiKey(store, ns);
  return { apiKey: key, created, keyCreated: true };
}

async function readKeptKey(file: string): Promise<string | undefined> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
