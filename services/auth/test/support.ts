import { Writable } from 'node:stream';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { createMemoryBus, type Bus, type BusMessage } from '@parley/bus';
import { createLogger } from '@parley/observability';
import { TOKEN_ALGORITHMS, TOKEN_AUDIENCE, TOKEN_ISSUER } from '@parley/protocol';
import { createAuthApp, type AuthApp, type AuthAppDeps, type AuthAppOptions } from '../src/app.ts';
import { generateSigningKeys, type SigningKeys } from '../src/keys/signing-keys.ts';
import { createMemoryTenantStore } from '../src/store/memory-tenant-store.ts';
import type { TenantStore } from '../src/store/tenant-store.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const BASE = 'http://auth.test';

/** Captures a pino logger's JSON lines. */
export function captureLogs() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      callback();
    },
  });
  return { logger: createLogger('auth', { level: 'debug', destination }), lines, text: () => lines.join('\n') };
}

export interface TestAuth {
  auth: AuthApp;
  store: TenantStore;
  keys: SigningKeys;
  bus: Bus & { disconnectForTest(down: boolean): void };
  logs: ReturnType<typeof captureLogs>;
  /** `app.fetch` of a request to `path`; `auth` is a bearer credential. */
  call(method: string, path: string, options?: { auth?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  /** Creates a tenant and a key through the admin API. */
  tenantWithKey(ns: string, settings?: Record<string, unknown>): Promise<{ key: string; keyId: string }>;
  mint(key: string, body: Record<string, unknown>): Promise<Response>;
}

export async function createTestAuth(options: AuthAppOptions & { store?: TenantStore; keys?: SigningKeys; webhooks?: AuthAppDeps['webhooks']; moderation?: AuthAppDeps['moderation'] } = {}): Promise<TestAuth> {
  const store = options.store ?? createMemoryTenantStore();
  const keys = options.keys ?? (await generateSigningKeys({ kid: 'test-key-1' }));
  const bus = createMemoryBus();
  const logs = captureLogs();
  const { webhooks, moderation, ...appOptions } = options;
  const auth = createAuthApp({ store, keys, bus, logger: logs.logger, ...(webhooks && { webhooks }), ...(moderation && { moderation }) }, { adminToken: ADMIN_TOKEN, ...appOptions });
  const call: TestAuth['call'] = (method, path, o = {}) =>
    Promise.resolve(
      auth.app.fetch(
        new Request(`${BASE}${path}`, {
          method,
          headers: {
            ...(o.auth !== undefined && { authorization: `Bearer ${o.auth}` }),
            ...(o.body !== undefined && { 'content-type': 'application/json' }),
            ...o.headers,
          },
          ...(o.body !== undefined && { body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body) }),
        }),
      ),
    );
  const admin: TestAuth['admin'] = (method, path, body) => call(method, path, { auth: ADMIN_TOKEN, ...(body !== undefined && { body }) });
  return {
    auth,
    store,
    keys,
    bus,
    logs,
    call,
    admin,
    async tenantWithKey(ns, settings) {
      const created = await admin('POST', '/v1/admin/tenants', { ns, ...(settings && { settings }) });
      if (created.status !== 201) throw new Error(`tenant ${ns}: ${created.status} ${await created.text()}`);
      const res = await admin('POST', `/v1/admin/tenants/${ns}/keys`);
      const body = (await res.json()) as { key: string; id: string };
      return { key: body.key, keyId: body.id };
    },
    mint: (key, body) => call('POST', '/v1/tokens', { auth: key, body }),
  };
}

/** Verifies a user token the way a gateway must: pinned algorithms, issuer, audience, exp required. */
export async function verifyUserToken(token: string, jwks: { keys: object[] }, options: { currentDate?: Date } = {}): Promise<{ payload: JWTPayload & Record<string, unknown>; kid: string | undefined }> {
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]), {
    algorithms: [...TOKEN_ALGORITHMS],
    issuer: TOKEN_ISSUER,
    audience: TOKEN_AUDIENCE,
    requiredClaims: ['exp', 'sub', 'jti'],
    ...options,
  });
  return { payload: payload as JWTPayload & Record<string, unknown>, kid: protectedHeader.kid };
}

/** Records bus messages on `subject`; `next()` resolves with the next one (or times out). */
export function recordBus(bus: Bus, subject: string) {
  const messages: BusMessage[] = [];
  const waiters: Array<() => void> = [];
  const subscription = bus.subscribe(subject, (m) => {
    messages.push(m);
    waiters.splice(0).forEach((w) => w());
  });
  const until = (n: number, timeoutMs = 2000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${subject}: ${messages.length}/${n} messages after ${timeoutMs} ms`)), timeoutMs);
      const check = () => {
        if (messages.length < n) return void waiters.push(check);
        clearTimeout(timer);
        resolve();
      };
      check();
    });
  return { messages, until, stop: () => subscription.unsubscribe(), json: (i: number) => JSON.parse(new TextDecoder().decode(messages[i]!.data)) as Record<string, unknown> };
}
