import type { Bus } from '@parley/bus';
import type { HistoryStore } from '@parley/history';
import type { PresenceStore } from '@parley/presence-store';
import { CLOSE_CODES, ParleyError, encodeServerFrame, subjects, type ServerFrame } from '@parley/protocol';
import type { Logger } from '@parley/observability';
import type { GatewayMetrics } from '../metrics.ts';
import { createHistoryFeeds } from './history-feeds.ts';
import { createExpiryWheel } from './expiry-wheel.ts';
import type { Fanout } from './fanout.ts';
import { createHub } from './hub.ts';
import { DEFAULT_FLOOD_CLOSE_AFTER, DEFAULT_VIOLATIONS_CLOSE_AFTER, effectiveLimits, type TenantLimits } from './limits.ts';
import { DEFAULT_MAX_REVOCATIONS_PER_TENANT, createRevocationList } from './revocations.ts';
import type { ClientSocket } from './client-socket.ts';
import { createControlOperations } from './control-operations.ts';
import { DEFAULT_PRESENCE_HEARTBEAT_MS, startPresenceHeartbeat } from './presence-heartbeat.ts';
import { combineGatewayEvents, type ConnectionView, type GatewayEvents } from './gateway-events.ts';
import { Session } from './session.ts';
import { SessionRegistry } from './session-registry.ts';
import { startStallDetector } from './stall-detector.ts';
import { DEFAULT_MAX_RESUME_MESSAGES } from './session-history.ts';
import type { TokenVerifier, VerifiedToken } from './token-verifier.ts';
import { PublishDedupe } from './publish-dedupe.ts';
import { createModerator, createMemoryModerationStore, type ModerationStore } from '@parley/moderation';
import { createRoomModeration } from './room-moderation.ts';

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
  /** Hooks of features that plug in beside the sessions (see gateway-events.ts). */
  events?: readonly GatewayEvents[];
  /** Bans, mutes, invites, roles and room settings, shared by every gateway (Redis) in a cluster. @default one process's memory */
  moderation?: ModerationStore;
}

/**
 * How long `close` waits for the cleanups of closed sessions (presence entries removed, leaves
 * announced) before it returns and the bus and stores are closed under them.
 */
export const CLEANUP_WAIT_MS = 5_000;

/**
 * The gateway's domain: admits and opens sessions, and puts together what serves them: the
 * session registry, interest-based bus subscriptions (the hub), history feeds, control
 * operations, presence heartbeats, the stall detector, and draining.
 */
export function createGatewayCore(deps: GatewayCoreDeps, options: GatewayCoreOptions) {
  const { bus, presence, metrics, logger } = deps;
  const sessions = new SessionRegistry();
  const events = orderedEvents(combineGatewayEvents(deps.events ?? [], (error, hook) => logger.warn({ err: error, hook }, 'a gateway event hook threw')));
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
      deliverToUser: (subject, data) => sessions.deliverOnSubject(subject, data),
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

  const updateGauges = () => {
    metrics.rooms.set(hub.roomCount());
    metrics.busSubscriptions.set(bus.subscriptionCount());
    metrics.directWildcards.set(hub.wildcardTenantCount());
    if (feeds) metrics.historyFeeds.set(feeds.count());
  };

  const moderationStore = deps.moderation ?? createMemoryModerationStore();
  const history = deps.history;
  const moderation = createRoomModeration({
    store: moderationStore,
    moderator: createModerator({ store: moderationStore, bus, ...(history && { deleteStored: (ns, room, seq) => history.delete(ns, room, seq) }) }),
    presence,
    metrics,
    logger,
    hasHistory: history !== undefined,
    isLocalMember: (ns, user, room) => {
      for (const s of sessions.sessionsOf(ns, user)) if (s.rooms.has(room)) return true;
      return false;
    },
  });
  // Changes made while the bus was away were not heard: reload what is cached once it is back.
  const stopWatchingBus = bus.onStateChange((state) => state === 'connected' && moderation.reloadAll());

  const sessionDeps = {
    moderation,
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
    checkStall: () => stallDetector.check(),
    events,
    dedupe: new PublishDedupe({ duplicate: (ns) => metrics.publishDuplicates.inc({ tenant: ns }), evicted: (ns) => metrics.publishDedupeEvicted.inc({ tenant: ns }) }),
  };

  const onControl = createControlOperations({ sessions, revocations, moderation, metrics, logger });
  const controlSubscription = bus.subscribe(subjects.allControl(), onControl);
  const heartbeat = startPresenceHeartbeat({
    sessions,
    presence,
    gatewayId: options.gatewayId,
    intervalMs: options.presenceHeartbeatMs ?? DEFAULT_PRESENCE_HEARTBEAT_MS,
    metrics,
    logger,
  });
  const stallDetector = startStallDetector({ sessions, metrics, logger });

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
      if (sessions.connectionsOf(token.claims.ns) >= limits.maxConnections) throw new ParleyError('too_many_connections');
    },
    /**
     * Opens a session for an upgraded socket with an admitted token. The session is registered at
     * once; `welcome` goes out when `opened` resolves (its direct-message subscription is active).
     */
    open(socket: ClientSocket, token: VerifiedToken): { session: Session; opened: Promise<void> } {
      const session = new Session(socket, token, sessionDeps);
      sessions.add(session);
      metrics.connections.inc({ tenant: session.ns });
      metrics.connectionsOpened.inc({ tenant: session.ns });
      const opened = session.open();
      updateGauges();
      const connected = events.connected;
      // Only for a session that got its `welcome`: one closed meanwhile gets neither hook.
      return { session, opened: connected ? opened.then(() => void (sessions.has(session) && !session.closed && connected(session))) : opened };
    },
    /** Forgets a session whose socket closed; presence leaves are announced. */
    async closed(session: Session, reason: string) {
      if (!sessions.remove(session)) return;
      metrics.connections.dec({ tenant: session.ns });
      metrics.connectionsClosed.inc({ reason });
      const cleaned = session.closedByTransport().then(() => events.closed?.(session, reason));
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
    heartbeat: heartbeat.beat,
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
      heartbeat.stop();
      stallDetector.stop();
      expiry.close();
      controlSubscription.unsubscribe();
      stopWatchingBus();
      feeds?.close();
    },
    encode: encodeServerFrame,
    closeCodes: CLOSE_CODES,
  };
}

export type GatewayCore = ReturnType<typeof createGatewayCore>;

/**
 * The hooks, called so that each connection's story is well formed: `closed` only after
 * `connected` (a connection closed before its `welcome` gets neither), `left` only after that
 * room's `joined` (a close during a join gets neither). Tracked only when such hooks are set.
 */
function orderedEvents(raw: GatewayEvents): GatewayEvents {
  const events: GatewayEvents = { ...(raw.published && { published: raw.published }) };
  if (raw.connected || raw.closed) {
    const connected = new WeakSet<ConnectionView>();
    events.connected = (c) => {
      connected.add(c);
      raw.connected?.(c);
    };
    events.closed = (c, reason) => {
      if (connected.delete(c)) raw.closed?.(c, reason);
    };
  }
  if (raw.joined || raw.left) {
    const rooms = new WeakMap<ConnectionView, Set<string>>();
    events.joined = (c, room) => {
      let joined = rooms.get(c);
      if (!joined) rooms.set(c, (joined = new Set()));
      joined.add(room);
      raw.joined?.(c, room);
    };
    events.left = (c, room) => {
      if (rooms.get(c)?.delete(room)) raw.left?.(c, room);
    };
  }
  return events;
}
