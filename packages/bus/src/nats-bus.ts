import { AuthorizationError, connect, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type NodeConnectionOptions, type Status, type Subscription, type TlsOptions } from '@nats-io/transport-node';
import { ParleyError } from '@parley/protocol';
import type { Logger } from 'pino';
import type { Bus, BusHandler, BusHeaders, BusState, BusSubscription } from './bus.ts';
import { createFlushBatcher } from './flush-batcher.ts';
import { createPublishQueue } from './publish-queue.ts';

/** How long `createNatsBus` keeps trying to reach a first server before it throws. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** Pause between reconnect attempts to the same server, plus a random jitter (spreads a herd of gateways). */
export const DEFAULT_RECONNECT_WAIT_MS = 500;
export const DEFAULT_RECONNECT_JITTER_MS = 500;
/** A publish batch whose flush round trip takes longer than this is rejected with `unavailable`. */
export const DEFAULT_FLUSH_TIMEOUT_MS = 5_000;
/** Client pings: a connection that misses `maxPingOut` replies is treated as dead and replaced. */
export const DEFAULT_PING_INTERVAL_MS = 10_000;
export const DEFAULT_MAX_PING_OUT = 3;
/** `close()` waits this long for a drain before closing hard. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;

export interface NatsBusOptions {
  /** One URL or several (a cluster); the client also learns the cluster's other servers. */
  servers: string | string[];
  /** Connection name shown by the NATS monitoring endpoint (`/connz`), e.g. the gateway id. */
  name: string;
  logger?: Logger;
  user?: string;
  pass?: string;
  token?: string;
  tls?: TlsOptions;
  /** @default DEFAULT_CONNECT_TIMEOUT_MS */
  connectTimeoutMs?: number;
  /** @default DEFAULT_RECONNECT_WAIT_MS */
  reconnectWaitMs?: number;
  /** @default DEFAULT_RECONNECT_JITTER_MS */
  reconnectJitterMs?: number;
  /** @default DEFAULT_FLUSH_TIMEOUT_MS */
  flushTimeoutMs?: number;
  /** @default DEFAULT_PING_INTERVAL_MS */
  pingIntervalMs?: number;
  /** @default DEFAULT_MAX_PING_OUT */
  maxPingOut?: number;
}

/** Counters since creation, for metrics. */
export interface NatsBusStats {
  /** Publishes accepted for writing to the connection. */
  published: number;
  /** Publishes rejected (not connected, flush failed or timed out, invalid). */
  publishRejected: number;
  /** Messages handed to subscription handlers. */
  delivered: number;
  /** Flush round trips (one per publish batch). */
  flushes: number;
  /** Successful reconnects. */
  reconnects: number;
  /** Subscription handlers that threw (the error is logged, delivery goes on). */
  handlerErrors: number;
}

export type NatsBus = Bus & {
  /** The underlying connection, for JetStream and tests. Do not close it directly. */
  readonly raw: NatsConnection;
  stats(): NatsBusStats;
};

const unavailable = (cause?: unknown) => new ParleyError('unavailable', undefined, cause === undefined ? undefined : { cause });

/**
 * The bus on core NATS (`@nats-io/transport-node` v3).
 *
 * Startup: tries every server until one answers, retrying for `connectTimeoutMs`, then throws
 * `ParleyError('unavailable')` so a misconfigured or unreachable NATS fails the process loudly
 * (Kubernetes restarts it) instead of serving while never ready.
 *
 * Publish: resolves when the server has the message (one flush round trip confirms a whole batch
 * of publishes); rejects with `unavailable` when not connected (there is no reconnect buffer), when
 * the connection drops before the server confirmed, or after `flushTimeoutMs`. A rejected publish
 * may still have been delivered (the connection can drop after the server took it but before its
 * reply): the client retries, so delivery is at-least-once from the client's point of view and
 * consumers deduplicate with the message id. Core NATS itself is at-most-once: a subscriber that
 * is disconnected at that moment never gets the message.
 *
 * Reconnect: never gives up (`maxReconnectAttempts: -1`); subscriptions are re-sent by the client;
 * `state` goes back to `connected` only after a round trip on the new connection, so every
 * existing subscription is active on the server by then.
 *
 * Delivery: handlers run synchronously in the NATS read callback, in the order the server sent
 * the messages; a throwing handler is logged and does not affect other subscriptions. `data` may
 * be a view into a larger buffer (respect `byteOffset`); it is not reused by the client.
 */
export async function createNatsBus(options: NatsBusOptions): Promise<NatsBus> {
  const logger = options.logger;
  const nc = await connectWithDeadline(options);
  const stats: NatsBusStats = { published: 0, publishRejected: 0, delivered: 0, flushes: 0, reconnects: 0, handlerErrors: 0 };
  const listeners = new Set<(state: BusState) => void>();
  const live = new Set<LiveSub>();
  // A write the client refused fails the batch it belongs to (the one not yet flushed).
  let refusedWrite: unknown;
  const outbox = createPublishQueue<MsgHdrs>(
    (subject, data, headers) => nc.publish(subject, data, headers ? { headers } : undefined),
    (error) => (refusedWrite ??= error),
  );
  const batcher = createFlushBatcher({
    // The PING must follow every message its batch confirms.
    flush: () => {
      const refused = outbox.writeAll() ?? refusedWrite;
      refusedWrite = undefined;
      return refused === undefined ? nc.flush() : Promise.reject(refused);
    },
    timeoutMs: options.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS,
    makeError: unavailable,
    onRejected: (count) => (stats.publishRejected += count),
  });
  let state: BusState = 'connected';
  let closing: Promise<void> | undefined;
  // Bumped on every connection change, so a late confirmation of an older connection is ignored.
  let epoch = 0;

  const setState = (next: BusState) => {
    if (state === next || state === 'closed') return;
    state = next;
    for (const listener of listeners) {
      try {
        listener(next);
      } catch (err) {
        logger?.error({ err }, 'bus state listener threw');
      }
    }
  };

  const onStatus = (status: Status) => {
    switch (status.type) {
      case 'disconnect':
        epoch++;
        logger?.warn({ server: status.server }, 'nats disconnected');
        setState('reconnecting');
        // Not written yet, and their batch is rejected now: the client would send them after a reconnect.
        outbox.discard();
        batcher.failAll(new Error('nats connection lost'));
        break;
      case 'reconnecting':
        setState('reconnecting');
        break;
      case 'reconnect': {
        const current = ++epoch;
        stats.reconnects++;
        // The client re-sent every SUB before this event; one round trip makes them active.
        nc.flush().then(
          () => {
            if (current !== epoch || closing) return;
            logger?.info({ server: status.server }, 'nats reconnected');
            setState('connected');
          },
          () => {},
        );
        break;
      }
      case 'close':
        outbox.discard();
        batcher.failAll(new Error('nats connection closed'));
        setState('closed');
        break;
      case 'error':
        logger?.error({ err: status.error }, 'nats error');
        break;
      case 'ldm':
        logger?.warn({ server: status.server }, 'nats server entering lame duck mode');
        break;
      case 'staleConnection':
      case 'slowConsumer':
        logger?.warn({ status: status.type }, 'nats connection trouble');
        break;
      default:
        break;
    }
  };

  void (async () => {
    for await (const status of nc.status()) onStatus(status);
  })();
  void nc.closed().then((err) => {
    if (err) logger?.error({ err }, 'nats connection closed for good');
    batcher.failAll(err);
    setState('closed');
  });

  const bus: NatsBus = {
    get state() {
      return state;
    },
    raw: nc,
    publish(subject: string, data: Uint8Array, headers?: BusHeaders) {
      if (state !== 'connected' || closing) {
        stats.publishRejected++;
        return Promise.reject(unavailable());
      }
      // Checked here, as the client would on write, so that the caller learns why.
      const maxPayload = nc.info?.max_payload;
      if (maxPayload !== undefined && data.byteLength > maxPayload) {
        stats.publishRejected++;
        return Promise.reject(new ParleyError('frame_too_large', `the message is ${data.byteLength} bytes; the bus takes at most ${maxPayload}`));
      }
      outbox.push(subject, data, headers ? toNatsHeaders(headers) : undefined);
      stats.published++;
      return batcher.track();
    },
    subscribe(subject: string, handler: BusHandler): BusSubscription {
      if (state === 'closed' || closing) throw unavailable();
      const entry: LiveSub = { active: true, sub: undefined };
      // Exact subjects are passed through as given; only wildcard subscriptions decode the subject.
      const fixedSubject = subject.includes('*') || subject.includes('>') ? undefined : subject;
      entry.sub = nc.subscribe(subject, {
        callback: (err: Error | null, msg: Msg) => {
          if (err) {
            logger?.error({ err, subject }, 'nats subscription failed');
            entry.active = false;
            live.delete(entry);
            return;
          }
          if (!entry.active) return;
          stats.delivered++;
          try {
            handler({ subject: fixedSubject ?? msg.subject, data: msg.data, headers: fromNatsHeaders(msg.headers) });
          } catch (error) {
            // A throw here would end the client's read loop: contain it.
            stats.handlerErrors++;
            logger?.error({ err: error, subject }, 'bus handler threw');
          }
        },
      });
      live.add(entry);
      return {
        subject,
        unsubscribe() {
          if (!entry.active) return;
          entry.active = false;
          live.delete(entry);
          if (!nc.isClosed()) entry.sub?.unsubscribe();
        },
      };
    },
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    flush() {
      if (state !== 'connected' || closing) return Promise.reject(unavailable());
      // Rides the publish batcher's round trip: one PING/PONG covers subscriptions too.
      return batcher.track();
    },
    subscriptionCount() {
      return live.size;
    },
    close() {
      closing ??= (async () => {
        await batcher.idle();
        if (state === 'connected' && !nc.isClosed()) {
          await withTimeout(nc.drain(), DEFAULT_DRAIN_TIMEOUT_MS).catch((err: unknown) => logger?.warn({ err }, 'nats drain did not complete'));
        }
        if (!nc.isClosed()) await nc.close();
        for (const entry of live) entry.active = false;
        live.clear();
        batcher.failAll();
        setState('closed');
      })();
      return closing;
    },
    stats() {
      return { ...stats, flushes: batcher.flushes };
    },
  };
  return bus;
}

interface LiveSub {
  active: boolean;
  sub: Subscription | undefined;
}

function toNatsHeaders(headers: BusHeaders): MsgHdrs {
  const h = natsHeaders();
  for (const key in headers) h.set(key, headers[key] as string);
  return h;
}

function fromNatsHeaders(h: MsgHdrs | undefined): BusHeaders {
  const out: BusHeaders = {};
  if (!h) return out;
  for (const [key, values] of h) if (values[0] !== undefined) out[key] = values[0];
  return out;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function connectWithDeadline(options: NatsBusOptions): Promise<NatsConnection> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const wait = options.reconnectWaitMs ?? DEFAULT_RECONNECT_WAIT_MS;
  const jitter = options.reconnectJitterMs ?? DEFAULT_RECONNECT_JITTER_MS;
  const deadline = Date.now() + timeoutMs;
  const base: NodeConnectionOptions = {
    servers: options.servers,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: wait,
    reconnectJitter: jitter,
    reconnectJitterTLS: jitter,
    pingInterval: options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
    maxPingOut: options.maxPingOut ?? DEFAULT_MAX_PING_OUT,
    // The first connection is retried here, with a deadline, rather than forever by the client.
    waitOnFirstConnect: false,
    ...(options.user !== undefined && { user: options.user, pass: options.pass }),
    ...(options.token !== undefined && { token: options.token }),
    ...(options.tls && { tls: options.tls }),
  };
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect({ ...base, timeout: Math.max(1_000, Math.min(20_000, deadline - Date.now())) });
    } catch (err) {
      const where = redactServers(options.servers);
      // Wrong credentials do not fix themselves: fail at once.
      if (err instanceof AuthorizationError) throw new ParleyError('unavailable', `NATS at ${where} refused the credentials`, { cause: err });
      const pause = wait + Math.random() * jitter;
      if (Date.now() + pause >= deadline) {
        throw new ParleyError('unavailable', `cannot reach NATS at ${where} after ${timeoutMs} ms (${attempt} attempts)`, { cause: err });
      }
      options.logger?.warn({ err, attempt }, 'nats not reachable yet; retrying');
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

/** Server URLs without any `user:password@` part, for messages and logs. */
function redactServers(servers: string | string[]): string {
  return (Array.isArray(servers) ? servers : [servers]).map((s) => s.replace(/\/\/[^@/]*@/, '//***@')).join(',');
}
