import { randomUUID } from 'node:crypto';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, type JWK } from 'jose';
import { createMemoryBus, type Bus } from '@parley/bus';
import type { HistoryStore } from '@parley/history';
import type { ModerationStore } from '@parley/moderation';
import { createLogger, createMetricsRegistry } from '@parley/observability';
import { createMemoryPresenceStore, type PresenceStore } from '@parley/presence-store';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, type Grants } from '@parley/protocol';
import { connectClient, SseTestClient, type TestClient } from '@parley/testkit';
import { createGateway, createTokenVerifier, type Gateway, type GatewayEvents, type GatewayOptions } from '../src/index.ts';
import type { TicketStore } from '../src/domain/connection-tickets.ts';

export interface TestKeys {
  kid: string;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  jwk: JWK;
}

export async function createTestKeys(kid = `k-${randomUUID().slice(0, 8)}`): Promise<TestKeys> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { kid, privateKey, jwk };
}

export interface MintOptions {
  sub?: string;
  ns?: string;
  grants?: Grants;
  ttlSeconds?: number;
  info?: Record<string, unknown>;
  lim?: Record<string, number>;
  origins?: string[];
  /** The tenant keeps history (`hist` claim), with this retention (`hret` claim). */
  hist?: boolean;
  hret?: { maxAgeSeconds?: number; maxMessagesPerRoom?: number; maxBytes?: number };
  /** The tenant's clients may use WebSocket compression (`cmp` claim). */
  cmp?: boolean;
  /** The tenant hides moderators in moderation events (`mhide` claim). */
  mhide?: boolean;
  iat?: number;
  jti?: string;
  issuer?: string;
  audience?: string;
}

export function mintToken(keys: TestKeys, o: MintOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const iat = o.iat ?? now;
  return new SignJWT({
    ns: o.ns ?? 'acme',
    grants: o.grants ?? { '*': ['subscribe', 'publish', 'presence', 'history'] },
    ...(o.info && { info: o.info }),
    ...(o.lim && { lim: o.lim }),
    ...(o.origins && { origins: o.origins }),
    ...(o.hist !== undefined && { hist: o.hist }),
    ...(o.hret && { hret: o.hret }),
    ...(o.cmp !== undefined && { cmp: o.cmp }),
    ...(o.mhide !== undefined && { mhide: o.mhide }),
  })
    .setProtectedHeader({ alg: 'ES256', kid: keys.kid })
    .setSubject(o.sub ?? 'alice')
    .setIssuer(o.issuer ?? TOKEN_ISSUER)
    .setAudience(o.audience ?? TOKEN_AUDIENCE)
    .setJti(o.jti ?? randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + (o.ttlSeconds ?? 600))
    .sign(keys.privateKey);
}

export interface TestGateway {
  gateway: Gateway;
  wsUrl: string;
  bus: Bus;
  presence: PresenceStore;
  registry: ReturnType<typeof createMetricsRegistry>;
}

/** A real gateway on a free port with the given bus/presence (memory by default) and test keys. */
export async function startTestGateway(
  keys: TestKeys | TestKeys[],
  options: Partial<GatewayOptions> & { bus?: Bus; presence?: PresenceStore; history?: HistoryStore; moderation?: ModerationStore; tickets?: TicketStore; events?: GatewayEvents[]; verificationGate?: () => Promise<void> } = {},
): Promise<TestGateway> {
  const bus = options.bus ?? createMemoryBus();
  const presence = options.presence ?? createMemoryPresenceStore();
  const { bus: _bus, presence: _presence, history, moderation, tickets, events, verificationGate, ...gatewayOptions } = options;
  const registry = createMetricsRegistry('gateway', { defaultMetrics: false });
  const jwks = createLocalJWKSet({ keys: (Array.isArray(keys) ? keys : [keys]).map((k) => k.jwk) });
  const verify = createTokenVerifier(jwks);
  // `verificationGate`: every verification waits for it first (a slow key fetch, made to order).
  const verifyToken: typeof verify = verificationGate ? async (token) => (await verificationGate(), verify(token)) : verify;
  const gateway = createGateway(
    { bus, presence, ...(history && { history }), ...(moderation && { moderation }), ...(tickets && { tickets }), ...(events && { events }), verifyToken, logger: createLogger('gateway', { level: 'silent' }), registry },
    { gatewayId: `gw-${randomUUID().slice(0, 6)}`, host: '127.0.0.1', port: 0, ...gatewayOptions },
  );
  await gateway.listen();
  return { gateway, wsUrl: `ws://127.0.0.1:${gateway.port}/v1/ws`, bus, presence, registry };
}

/** Connects with a token and waits for `welcome`. */
export async function join(url: string, token: string, rooms: string[] = [], options: { origin?: string } = {}): Promise<TestClient> {
  const client = await connectClient(url, { token, ...options });
  await client.waitFor('welcome');
  for (const room of rooms) {
    const reply = await client.request({ type: 'join', room });
    if (reply.type !== 'joined') throw new Error(`join ${room} failed: ${JSON.stringify(reply)}`);
  }
  return client;
}

export type Transport = 'websocket' | 'sse';
export const TRANSPORTS: Transport[] = ['websocket', 'sse'];

/** What the protocol tests need of a client, whichever transport it uses. */
export type ProtocolClient = Pick<TestClient, 'frames' | 'waitFor' | 'request' | 'send' | 'close' | 'closed' | 'all' | 'isClosed' | 'received'>;

/** A client of `gateway` over `transport`; it has received `welcome` (or been refused) once `waitFor('welcome')` resolves. */
export async function connectVia(transport: Transport, gateway: Pick<TestGateway, 'gateway'>, token: string, options: { origin?: string } = {}): Promise<ProtocolClient> {
  if (transport === 'websocket') return connectClient(`ws://127.0.0.1:${gateway.gateway.port}/v1/ws`, { token, ...options });
  const client = new SseTestClient(`http://127.0.0.1:${gateway.gateway.port}`, { token, ...options });
  await client.opened;
  return client;
}

/** Connects over `transport`, waits for `welcome` and joins `rooms`. */
export async function joinVia(transport: Transport, gateway: Pick<TestGateway, 'gateway'>, token: string, rooms: string[] = []): Promise<ProtocolClient> {
  const client = await connectVia(transport, gateway, token);
  await client.waitFor('welcome');
  for (const room of rooms) {
    const reply = await client.request({ type: 'join', room });
    if (reply.type !== 'joined') throw new Error(`join ${room} failed: ${JSON.stringify(reply)}`);
  }
  return client;
}

/** Waits until `check` holds (polled every 20 ms), or throws after `timeoutMs` naming `what`. */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
