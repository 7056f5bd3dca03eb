import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { writeAtomic } from '../atomic-file.ts';

/** Algorithms the auth service signs with (the gateway accepts exactly these). */
export type SigningAlgorithm = 'ES256' | 'EdDSA';

/** Key files in a signing-keys directory: `<kid>.private.jwk.json`, one private JWK each. */
export const SIGNING_KEY_FILE_SUFFIX = '.private.jwk.json';
/** A key id: it names the file and travels in every token header. */
export const KID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Where a generated key is kept when no `PARLEY_SIGNING_KEYS_DIR` is configured. */
export const DATA_DIR_KEYS_FOLDER = 'signing-keys';

export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: CryptoKey;
  /** The public half as published in the JWKS (`kid`, `alg`, `use: 'sig'`). */
  publicJwk: JWK;
}

/**
 * The loaded signing keys: one active key signs; every key (active or not) is published in the
 * JWKS, so tokens signed by a key being rotated out keep verifying until that key is removed.
 */
export interface SigningKeys {
  readonly active: SigningKey;
  readonly all: readonly SigningKey[];
  jwks(): JSONWebKeySet;
}

export interface LoadSigningKeysOptions {
  /** `PARLEY_SIGNING_KEYS_DIR`: a folder of `<kid>.private.jwk.json` files (e.g. a mounted Secret). */
  dir?: string;
  /** `PARLEY_ACTIVE_KEY_ID`: the kid that signs; required when the folder holds several keys. */
  activeKeyId?: string;
  /** `PARLEY_DATA_DIR`: without `dir`, one ES256 key is generated once and kept here. */
  dataDir?: string;
}

/**
 * Loads the signing keys. With `dir`, every `<kid>.private.jwk.json` in it; otherwise the keys in
 * `<dataDir>/signing-keys/`, generating one ES256 key there on first start so restarts (and the
 * tokens already issued) keep working. Fails loudly on an unreadable key, an unknown active kid,
 * or several keys and no active kid.
 */
export async function loadSigningKeys(options: LoadSigningKeysOptions): Promise<SigningKeys> {
  let dir = options.dir;
  if (!dir) {
    if (!options.dataDir) throw new Error('signing keys: set PARLEY_SIGNING_KEYS_DIR or a data directory');
    dir = join(options.dataDir, DATA_DIR_KEYS_FOLDER);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if ((await listKeyFiles(dir)).length === 0) {
      const kid = defaultKid('ES256');
      await writeSigningKeyFile(dir, await generateSigningKeyJwk('ES256', kid));
    }
  }
  const files = await listKeyFiles(dir);
  if (files.length === 0) throw new Error(`signing keys: no *${SIGNING_KEY_FILE_SUFFIX} file in ${dir}`);
  const keys: SigningKey[] = [];
  for (const file of files) {
    const kid = file.slice(0, -SIGNING_KEY_FILE_SUFFIX.length);
    const jwk = JSON.parse(await readFile(join(dir, file), 'utf8')) as JWK;
    keys.push(await importSigningKey(jwk, kid, join(dir, file)));
  }
  return createSigningKeys(keys, options.activeKeyId);
}

/** Builds the key set from keys in memory; `activeKeyId` defaults to the only key. */
export function createSigningKeys(keys: SigningKey[], activeKeyId?: string): SigningKeys {
  if (keys.length === 0) throw new Error('signing keys: none loaded');
  let active: SigningKey | undefined;
  if (activeKeyId) {
    active = keys.find((k) => k.kid === activeKeyId);
    if (!active) throw new Error(`signing keys: PARLEY_ACTIVE_KEY_ID=${activeKeyId} is not among the loaded keys (${keys.map((k) => k.kid).join(', ')})`);
  } else if (keys.length === 1) {
    active = keys[0];
  } else {
    throw new Error(`signing keys: several keys loaded (${keys.map((k) => k.kid).join(', ')}); set PARLEY_ACTIVE_KEY_ID to the one that signs`);
  }
  const all = Object.freeze([...keys]);
  const jwks: JSONWebKeySet = { keys: all.map((k) => ({ ...k.publicJwk })) };
  return {
    active: active!,
    all,
    jwks: () => structuredClone(jwks),
  };
}

/** A fresh in-memory key set (tests, OpenAPI generation): nothing is written anywhere. */
export async function generateSigningKeys(options: { kid?: string; alg?: SigningAlgorithm } = {}): Promise<SigningKeys> {
  const alg = options.alg ?? 'ES256';
  const kid = options.kid ?? defaultKid(alg);
  return createSigningKeys([await importSigningKey(await generateSigningKeyJwk(alg, kid), kid, kid)]);
}

/** A new private JWK with `kid` and `alg`, in the format of a key file. */
export async function generateSigningKeyJwk(alg: SigningAlgorithm, kid: string): Promise<JWK> {
  if (!KID_PATTERN.test(kid)) throw new Error(`signing keys: kid must match ${KID_PATTERN}`);
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' && { crv: 'Ed25519' }) });
  return { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
}

/** Writes `<dir>/<kid>.private.jwk.json` (mode 0600, atomically); refuses to overwrite. */
export async function writeSigningKeyFile(dir: string, jwk: JWK): Promise<string> {
  const kid = jwk.kid ?? '';
  if (!KID_PATTERN.test(kid)) throw new Error(`signing keys: kid must match ${KID_PATTERN}`);
  const path = join(dir, `${kid}${SIGNING_KEY_FILE_SUFFIX}`);
  if ((await listKeyFiles(dir)).includes(`${kid}${SIGNING_KEY_FILE_SUFFIX}`)) throw new Error(`signing keys: ${path} exists`);
  await writeAtomic(path, `${JSON.stringify(jwk, null, 2)}\n`);
  return path;
}

async function importSigningKey(jwk: JWK, kid: string, source: string): Promise<SigningKey> {
  if (!KID_PATTERN.test(kid)) throw new Error(`signing keys: ${source}: kid must match ${KID_PATTERN}`);
  if (jwk.kid !== undefined && jwk.kid !== kid) throw new Error(`signing keys: ${source}: the JWK kid "${jwk.kid}" differs from the file name`);
  if (typeof jwk.d !== 'string') throw new Error(`signing keys: ${source}: not a private key (no "d")`);
  const alg = algorithmOf(jwk);
  if (!alg) throw new Error(`signing keys: ${source}: only EC P-256 (ES256) and OKP Ed25519 (EdDSA) keys are supported`);
  if (jwk.alg !== undefined && jwk.alg !== alg) throw new Error(`signing keys: ${source}: alg ${jwk.alg} does not fit the key type`);
  const privateKey = (await importJWK({ ...jwk, ext: false }, alg)) as CryptoKey;
  const publicJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y !== undefined && { y: jwk.y }), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

function algorithmOf(jwk: JWK): SigningAlgorithm | undefined {
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined;
}

async function listKeyFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  return names.filter((n) => n.endsWith(SIGNING_KEY_FILE_SUFFIX) && !n.startsWith('.')).sort();
}

/** `es256-2026-11-22-1a2b3c`: sortable by creation day, unique enough for a handful of keys. */
function defaultKid(alg: SigningAlgorithm): string {
  return `${alg.toLowerCase()}-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`;
}
