import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_CONTROL_RETENTION_SECONDS, type Bus, type BusMessage } from '@parley/bus';
import type { HistoryStore } from '@parley/history';
import type { PresenceConnection, PresenceStore } from '@parley/presence-store';
import { CLOSE_CODES, ParleyError, controlMessageSchema, encodeServerFrame, subjects, type ServerFrame } from '@parley/protocol';
import type { Logger } from '@parley/observability';
import type { GatewayMetrics } from '../metrics.ts';
import { createHistoryFeeds } from './history-feeds.ts';
import { createExpiryWheel } from './expiry-wheel.ts';
import { createHub, type Fanout } from './hub.ts';
import { DEFAULT_FLOOD_CLOSE_AFTER, DEFAULT_VIOLATIONS_CLOSE_AFTER, effectiveLimits, type TenantLimits } from './limits.ts';
import { DEFAULT_MAX_REVOCATIONS_PER_TENANT, createRevocationList } from './revocations.ts';
import { Session, type ClientSocket } from './session.ts';
import { DEFAULT_MAX_RESUME_MESSAGES } from './session-history.ts';
import type { TokenVerifier, VerifiedToken } from './token-verifier.ts';
import { PublishDedupe } from './publish-dedupe.ts';

export interface GatewayCoreOptions {
  gatewayId: string;
  maxPayloadBytes: number;
  /** @default 5000: how often live connections refresh their presence entries (well under the TTL). */
  presenceHeartbeatMs?: number;
  floodCloseAfter?: number;
  violationsCloseAfter?: number;
  /** @default DEFAULT_MAX_RESUME_MESSAGES: most messages one resume replays before it reports a gap. */
  maxResumeMessages?: number;
  /** @default DEFAULT_USER_SUBSCRIPTIONS_PER_TENANT (see hub.ts). */
  userSubscriptionsPerTenant?: number;
  /** @default DEFAULT_MAX_REVOCATIONS_PER_TENANT (`PARLEY_MAX_REVOCATIONS_PER_TENANT`). */
  maxRevocationsPerTenant?: number;
}

export interface GatewayCoreDeps {
  bus: Bus;
  presence: PresenceStore;
  /** Room history for tenants whose tokens say `hist: true`; without it they get no seqs and no history. */
  history?: HistoryStore;
  fanout: Fanout;
  verifyToken: TokenVerifier;
  metrics: GatewayMetrics;
  logger: Logger;
}

export const DEFAULT_PRESENCE_HEARTBEAT_MS = 5_000;
/**
 * Presence entries per heartbeat round trip: preparing one chunk holds the event loop for well
 * under a millisecond (1,000 held it for several, the whole of Parley's p99 gap to a bare bridge
 * in small rooms), and Redis runs one short script per room of it.
 */
export const HEARTBEAT_CHUNK = 250;
/**
 * How long `close` waits for the cleanups of closed sessions (presence entries removed, leaves
 * announced) before it returns and the bus and stores are closed under them.
 */
export const CLEANUP_WAIT_MS = 5_000;

/** How often the gateway checks that its event loop kept running. */
const STALL_CHECK_MS = 250;
/** A gap this much longer than expected is a stall (a long GC pause, SIGSTOP, a stopped VM). */
const STALL_MIN_MS = 1_000;

/**
 * The gateway's domain: sessions by connection and by user, interest-based bus subscriptions,
 * presence heartbeats, control messages (kick, disconnect, revoke) and draining.
 */
export function createGatewayCore(deps: GatewayCoreDeps, options: GatewayCoreOptions) {
  const { bus, presence, metrics, logger } = deps;
  const sessions = new Set<Session>();
  /** A user's sessions on this gateway: most users have one, kept without a Set. */
  const byUser = new Map<string, Session | Set<Session>>();
  const perTenant = new Map<string, number>();
  const revocations = createRevocationList(options.maxRevocationsPerTenant ?? DEFAULT_MAX_REVOCATIONS_PER_TENANT, () => metrics.revocationsEvicted.inc());
  const hub = createHub(
    bus,
    deps.fanout,
    {
      delivered(kind, message, publishedAt) {
        metrics.deliveries.labels(kind).inc();
        metrics.deliveredBytes.labels(kind).inc(message.data.byteLength);
        if (publishedAt !== undefined && kind === 'room') metrics.deliveryLatency.observe(Math.max(0, Date.now() - publishedAt) / 1000);
      },
    },
    {
      ...(options.userSubscriptionsPerTenant !== undefined && { userSubscriptionsPerTenant: options.userSubscriptionsPerTenant }),
      // A direct message goes to the user's sessions from here: a uWebSockets.js topic per user
      // would cost native memory on every connection for the few messages most users get.
      deliverToUser(subject, data) {
        const found = byUser.get(subject);
        if (found instanceof Set) for (const s of found) s.deliver(data);
        else found?.deliver(data);
      },
    },
  );
  const expiry = createExpiryWheel<Session>((session) => session.expire());
  const defaultLimits = effectiveLimits(undefined, options.maxPayloadBytes);
  const limitsByClaim = new WeakMap<object, TenantLimits>();
  const limitsOf = (token: VerifiedToken): TenantLimits => {
    if (!token.limits) return defaultLimits;
    let limits = limitsByClaim.get(token.limits);
    if (!limits) limitsByClaim.set(token.limits, (limits = effectiveLimits(token.limits, options.maxPayloadBytes)));
    return limits;
  };
  const sessionsOf = (ns: string, user: string): Iterable<Session> => {
    const found = byUser.get(userKey(ns, user));
    return found === undefined ? [] : found instanceof Set ? found : [found];
  };
  const feeds = deps.history
    ? createHistoryFeeds(deps.history, deps.fanout, {
        logger,
        delivered: (bytes, publishedAt) => {
          metrics.deliveries.labels('history').inc();
          metrics.deliveredBytes.labels('history').inc(bytes);
          // Room messages of history tenants reach members through the feed, not the bus.
          if (publishedAt !== undefined) metrics.deliveryLatency.observe(Math.max(0, Date.now() - publishedAt) / 1000);
        },
        repaired: (reason) => metrics.historyFeedRepairs.labels(reason).inc(),
      })
    : undefined;
  let draining = false;
  /** Cleanups of closed sessions still running. */
  const cleanups = new Set<Promise<void>>();

  /** Sessions are found by their user's direct-message subject (what a direct message arrives on). */
  const userKey = (ns: string, user: string) => subjects.user(ns, user);
  const updateGauges = () => {
    metrics.rooms.set(hub.roomCount());
    metrics.busSubscriptions.set(bus.subscriptionCount());
    metrics.directWildcards.set(hub.wildcardTenantCount());
    if (feeds) metrics.historyFeeds.set(feeds.count());
  };

  const sessionDeps = {
    gatewayId: options.gatewayId,
    bus,
    hub,
    presence,
    ...(deps.history &&
      feeds && {
        history: { store: deps.history, feeds, metrics, gatewayId: options.gatewayId, maxResumeMessages: options.maxResumeMessages ?? DEFAULT_MAX_RESUME_MESSAGES },
      }),
    verifyToken: deps.verifyToken,
    expiry,
    limitsOf,
    metrics,
    logger,
    floodCloseAfter: options.floodCloseAfter ?? DEFAULT_FLOOD_CLOSE_AFTER,
    violationsCloseAfter: options.violationsCloseAfter ?? DEFAULT_VIOLATIONS_CLOSE_AFTER,
    onRoomsChanged: updateGauges,
    isRevoked: (token: VerifiedToken) => revocations.isRevoked(token),
    checkStall: () => checkStall(),
    dedupe: new PublishDedupe({ duplicate: (ns) => metrics.publishDuplicates.inc({ tenant: ns }), evicted: (ns) => metrics.publishDedupeEvicted.inc({ tenant: ns }) }),
  };

  const onControl = (message: BusMessage) => {
    const ns = message.subject.slice('ctl.'.length);
    let parsed;
    try {
      parsed = controlMessageSchema.safeParse(JSON.parse(new TextDecoder().decode(message.data)));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      logger.warn({ subject: message.subject }, 'ignored a malformed control message');
      return;
    }
    const control = parsed.data;
    if (control.op === 'revoke-token') {
      revocations.revokeToken(ns, control.jti, control.exp);
      metrics.revocations.set(revocations.size());
      for (const s of sessions) if (s.ns === ns && s.token.claims.jti === control.jti) s.close('token_revoked', 'token revoked');
      return;
    }
    if (control.op === 'revoke') {
      revocations.revokeUser(ns, control.user, control.before, DEFAULT_CONTROL_RETENTION_SECONDS);
      metrics.revocations.set(revocations.size());
    }
    for (const s of sessionsOf(ns, control.user)) {
      if (control.op === 'disconnect') s.close('disconnected', control.reason ?? 'disconnected by the application');
      else if (control.op === 'revoke' && s.token.claims.iat <= control.before) s.close('token_revoked', 'token revoked');
      else if (control.op === 'kick' && s.rooms.has(control.room)) {
        void s.leaveRoom(control.room, true);
        s.error('forbidden', undefined, control.room, 'removed from the room by a moderator');
      }
    }
  };
  const controlSubscription = bus.subscribe(subjects.allControl(), onControl);

  const heartbeatMs = options.presenceHeartbeatMs ?? DEFAULT_PRESENCE_HEARTBEAT_MS;
  let heartbeatRunning = false;
  let stopped = false;
  /**
   * Refreshes every local presence entry, in chunks sent one after another and spread over the
   * first half of the interval: a pass sent at once holds the event loop (and Redis) for
   * milliseconds per thousand connections, and one batch for all of them would hold tens of
   * megabytes at once on a busy gateway, which the heap then keeps. A pass still running when the
   * next is due (Redis slow) is not doubled.
   */
  const heartbeat = async () => {
    if (heartbeatRunning) return;
    heartbeatRunning = true;
    try {
      let total = 0;
      for (const s of sessions) total += s.rooms.size;
      const chunks = Math.ceil(total / HEARTBEAT_CHUNK);
      const pauseMs = chunks > 1 ? Math.floor(heartbeatMs / 2 / chunks) : 0;
      let chunk: PresenceConnection[] = [];
      const send = async () => {
        const entries = chunk;
        chunk = [];
        try {
          const rejoins = await presence.heartbeat(entries);
          if (rejoins.length > 0) {
            metrics.presenceRejoins.inc(rejoins.length);
            logger.warn({ rejoins: rejoins.length }, 'presence entries had expired and were swept (this gateway stalled past the TTL); announcing those joins again');
          }
          for (const r of rejoins) {
            const session = [...sessionsOf(r.ns, r.user)].find((s) => s.rooms.has(r.room));
            if (session) await session.announceRejoin(r.room, { room: r.firstForRoom === true, tenant: r.firstForTenant === true });
          }
        } catch (error) {
          metrics.presenceErrors.inc({ op: 'heartbeat' });
          logger.warn({ err: error }, 'presence heartbeat failed');
        }
        if (pauseMs > 0) await sleep(pauseMs);
      };
      for (const s of sessions) {
        if (stopped) return;
        const info = s.token.claims.info;
        for (const room of s.rooms) chunk.push({ ns: s.ns, room, user: s.user, conn: s.conn, gateway: options.gatewayId, ...(info && { info }) });
        if (chunk.length >= HEARTBEAT_CHUNK) await send();
      }
      if (chunk.length > 0 && !stopped) await send();
    } finally {
      heartbeatRunning = false;
    }
  };
  const heartbeatTimer = setInterval(() => void heartbeat(), heartbeatMs);
  heartbeatTimer.unref();

  // A stalled process (a long GC pause, SIGSTOP, a stopped VM) receives at once what clients
  // sent meanwhile. The check runs on a timer and, because a process stopped in its poll reads
  // sockets before its timers when it resumes, also before any frame is refused as over the rate
  // (`checkStall`): the credit is granted before that backlog is rate limited.
  let lastTick = performance.now();
  const checkStall = () => {
    const now = performance.now();
    const stalledMs = now - lastTick - STALL_CHECK_MS;
    lastTick = now;
    if (stalledMs < STALL_MIN_MS) return;
    metrics.stalls.inc();
    logger.warn({ stalledMs: Math.round(stalledMs), sessions: sessions.size }, 'this gateway was stalled; clients\' messages sent meanwhile are not rate limited as a burst');
    for (const s of sessions) s.creditStall(stalledMs);
  };
  const stallTimer = setInterval(checkStall, STALL_CHECK_MS);
  stallTimer.unref();

  return {
    hub,
    get draining() {
      return draining;
    },
    /**
     * Admission of a verified token at the handshake. Throws a ParleyError with the reason when
     * the connection must be refused (revoked, Origin not allowed, tenant at its limit, draining).
     */
    admit(token: VerifiedToken, origin: string | undefined) {
      if (draining) throw new ParleyError('shutting_down');
      // The verifier's clock tolerance is for skew on `iat`/`nbf`; a token past its `exp` is
      // refused here rather than welcomed and closed with 4001 a moment later.
      if (token.claims.exp <= Date.now() / 1000) throw new ParleyError('token_expired');
      if (revocations.isRevoked(token)) throw new ParleyError('token_revoked');
      if (origin !== undefined && token.origins.length > 0 && !token.origins.includes(origin)) throw new ParleyError('origin_not_allowed');
      const limits = limitsOf(token);
      if ((perTenant.get(token.claims.ns) ?? 0) >= limits.maxConnections) throw new ParleyError('too_many_connections');
    },
    /**
     * Opens a session for an upgraded socket with an admitted token. The session is registered at
     * once; `welcome` goes out when `opened` resolves (its direct-message subscription is active).
     */
    open(socket: ClientSocket, token: VerifiedToken): { session: Session; opened: Promise<void> } {
      const session = new Session(socket, token, sessionDeps);
      sessions.add(session);
      const key = userKey(session.ns, session.user);
      const others = byUser.get(key);
      if (others === undefined) byUser.set(key, session);
      else if (others instanceof Set) others.add(session);
      else byUser.set(key, new Set([others, session]));
      perTenant.set(session.ns, (perTenant.get(session.ns) ?? 0) + 1);
      metrics.connections.inc({ tenant: session.ns });
      metrics.connectionsOpened.inc({ tenant: session.ns });
      const opened = session.open();
      updateGauges();
      return { session, opened };
    },
    /** Forgets a session whose socket closed; presence leaves are announced. */
    async closed(session: Session, reason: string) {
      if (!sessions.delete(session)) return;
      const key = userKey(session.ns, session.user);
      const others = byUser.get(key);
      if (others === session) byUser.delete(key);
      else if (others instanceof Set) {
        others.delete(session);
        if (others.size === 1) byUser.set(key, others.values().next().value!);
      }
      const left = (perTenant.get(session.ns) ?? 1) - 1;
      if (left === 0) perTenant.delete(session.ns);
      else perTenant.set(session.ns, left);
      metrics.connections.dec({ tenant: session.ns });
      metrics.connectionsClosed.inc({ reason });
      const cleaned = session.closedByTransport();
      updateGauges();
      cleanups.add(cleaned);
      try {
        await cleaned;
      } finally {
        cleanups.delete(cleaned);
      }
    },
    sessionCount() {
      return sessions.size;
    },
    heartbeat,
    /** Applies a control message from elsewhere than the live subscription (the control log at start). */
    applyControl: onControl,
    /**
     * Starts draining: new connections are refused and every client is told to reconnect
     * elsewhere (with a random delay so they do not all arrive at once). Returns a function
     * that closes the remaining sockets.
     */
    drain(maxDelayMs: number) {
      draining = true;
      for (const s of sessions) {
        const frame: ServerFrame = { type: 'reconnect', reason: 'shutdown', delayMs: Math.floor(Math.random() * maxDelayMs) };
        s.reply(frame);
      }
      return () => {
        for (const s of sessions) s.close('shutdown', 'gateway shutting down');
      };
    },
    /** Stops timers and subscriptions once the cleanups of closed sessions are done (or `CLEANUP_WAIT_MS` passed). */
    async close() {
      if (cleanups.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLEANUP_WAIT_MS)));
        await Promise.race([Promise.allSettled([...cleanups]), waited]);
        clearTimeout(timer);
      }
      clearInterval(heartbeatTimer);
      clearInterval(stallTimer);
      stopped = true;
      expiry.close();
      controlSubscription.unsubscribe();
      feeds?.close();
    },
    encode: encodeServerFrame,
    closeCodes: CLOSE_CODES,
  };
}

export type GatewayCore = ReturnType<typeof createGatewayCore>;
