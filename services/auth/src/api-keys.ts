import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { NAMESPACE_PATTERN } from '@parley/protocol';
import type { ApiKeyRecord, TenantStore } from './store/tenant-store.ts';

/**
 * API keys: `pk_<ns>_<43 characters of base64url>` (32 random bytes). The namespace in the key
 * is only a hint for humans and logs; the tenant of a key is the one its stored record names,
 * found by the key's SHA-256. The key itself is returned once at creation and never stored.
 */
export const API_KEY_PREFIX = 'pk_';
export const API_KEY_RANDOM_BYTES = 32;
/** Characters of the random part kept in the display prefix (24 of 256 bits: harmless to show). */
export const DISPLAY_PREFIX_CHARS = 4;
export const KEY_ID_PATTERN = /^key_[A-Za-z0-9_-]{12}$/;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function newKeyId(): string {
  return `key_${randomBytes(9).toString('base64url')}`;
}

/** The listed, non-secret prefix of a key: `pk_demo_AbCd`. */
export function displayPrefix(key: string): string {
  const hint = apiKeyHint(key);
  return hint === 'malformed' ? `${key.slice(0, 3)}…` : `${hint}${key.slice(hint.length, hint.length + DISPLAY_PREFIX_CHARS)}`;
}

/**
 * What may be logged about a presented key: `pk_<ns>_` when it has that shape, else
 * `malformed`. Never any character of the random part.
 */
export function apiKeyHint(key: string): string {
  if (!key.startsWith(API_KEY_PREFIX)) return 'malformed';
  const end = key.indexOf('_', API_KEY_PREFIX.length);
  if (end < 0) return 'malformed';
  const ns = key.slice(API_KEY_PREFIX.length, end);
  return NAMESPACE_PATTERN.test(ns) ? `${API_KEY_PREFIX}${ns}_` : 'malformed';
}

/** Creates a key for `ns` and stores its hash; the returned `key` is the only copy. */
export async function createApiKey(store: TenantStore, ns: string, now = new Date()): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = `${API_KEY_PREFIX}${ns}_${randomBytes(API_KEY_RANDOM_BYTES).toString('base64url')}`;
  const record = await addKnownApiKey(store, ns, key, now);
  return { key, record };
}

/** Stores the hash of a key chosen elsewhere (the demo key from the environment). */
export async function addKnownApiKey(store: TenantStore, ns: string, key: string, now = new Date()): Promise<ApiKeyRecord> {
  const record: ApiKeyRecord = { id: newKeyId(), ns, hash: hashApiKey(key), prefix: displayPrefix(key), createdAt: now.toISOString() };
  await store.addApiKey(record);
  return record;
}

/** The credential of `Authorization: Bearer <credential>`, or undefined. */
export function bearerCredential(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+(\S{1,512})\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Compares two secrets in time independent of where they differ: both are hashed first, so the
 * comparison also does not reveal the expected length.
 */
export function secretsEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
