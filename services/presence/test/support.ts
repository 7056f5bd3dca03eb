import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { Registry } from 'prom-client';
import { createMemoryBus } from '@parley/bus';
import { createLogger } from '@parley/observability';
import type { PresenceStore } from '@parley/presence-store';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, type Grants } from '@parley/protocol';
import { createAuthServiceKeyVerifier, createJwksUserTokenVerifier, createPresenceApp, type PresenceApp } from '../src/index.ts';

/**
 * A stand-in for the auth service on a real loopback port: `GET /v1/whoami` (API key -> ns, its
 * documented contract) and `GET /.well-known/jwks.json`, plus a signer for user tokens.
 */
export interface FakeAuth {
  url: string;
  jwksUrl: string;
  /** whoami requests received (to observe the verifier's cache). */
  whoamiCalls: number;
  /** When false, whoami answers 503. */
  healthy: boolean;
  /** When true, the key set request's connection is dropped (auth unreachable). */
  jwksDown: boolean;
  keys: Map<string, string>;
  token(claims: { sub: string; ns: string; grants: Grants; info?: Record<string, unknown> }, options?: { expiresIn?: string | number; signer?: 'trusted' | 'stranger'; issuer?: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startFakeAuth(keys: Record<string, string>): Promise<FakeAuth> {
  const trusted = await generateKeyPair('ES256');
  const stranger = await generateKeyPair('ES256');
  const jwk: JWK = { ...(await exportJWK(trusted.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const state = { whoamiCalls: 0, healthy: true, jwksDown: false, keys: new Map(Object.entries(keys)) };
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      if (state.jwksDown) return void req.socket.destroy();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    if (req.url === '/v1/whoami') {
      state.whoamiCalls++;
      if (!state.healthy) return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"internal","message":"down","temporary":true}');
      const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const ns = key && state.keys.get(key);
      if (!ns) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"code":"unauthorized","message":"bad key","temporary":false}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ns, keyId: 'key_test' }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, {
    url,
    jwksUrl: `${url}/.well-known/jwks.json`,
    async token(claims: { sub: string; ns: string; grants: Grants; info?: Record<string, unknown> }, options: { expiresIn?: string | number; signer?: 'trusted' | 'stranger'; issuer?: string } = {}) {
      const key = options.signer === 'stranger' ? stranger.privateKey : trusted.privateKey;
      return new SignJWT({ ns: claims.ns, grants: claims.grants, ...(claims.info && { info: claims.info }) })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setSubject(claims.sub)
        .setJti(crypto.randomUUID())
        .setIssuer(options.issuer ?? TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '5m')
        .sign(key);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** The presence app over `store`, wired to a fake auth, as main.ts wires it to the real one. */
export function buildApp(store: PresenceStore, auth: FakeAuth, registry = new Registry()): PresenceApp & { registry: Registry } {
  const app = createPresenceApp({
    store,
    bus: createMemoryBus(),
    verifyApiKey: createAuthServiceKeyVerifier(auth.url),
    verifyUserToken: createJwksUserTokenVerifier(auth.jwksUrl),
    logger: createLogger('presence-test', { level: 'silent' }),
    registry,
  });
  return Object.assign(app, { registry });
}

/** A GET on the app with a bearer credential; returns status and parsed JSON. */
export async function get(app: PresenceApp, path: string, credential?: string): Promise<{ status: number; body: any }> {
  const response = await app.app.fetch(new Request(`http://presence.test${path}`, { headers: credential ? { authorization: `Bearer ${credential}` } : {} }));
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (metrics)
  }
  return { status: response.status, body };
}

/** Resolves when `check` returns true, polling; rejects after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
