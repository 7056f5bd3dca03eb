import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { headers as natsHeaders, InvalidArgumentError, RequestError, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { ParleyError, subjects } from '@parley/protocol';
import type { HistoryFollower, HistoryHealth, HistoryStore, HistoryTenant } from './history-store.ts';
import { DEFAULT_FOLLOW_HEARTBEAT_MS, followRoom, type RoomFollower } from './jetstream-follower.ts';
import { createRoomReader, readAfter, readLatest } from './jetstream-reader.ts';
import { createStreamEnsurer, isStreamNotFound, streamName } from './jetstream-streams.ts';

export interface JetStreamHistoryStoreOptions {
  /** @default 1: replicas of each tenant stream (3 in a clustered JetStream). */
  replicas?: number;
  /** @default 3000: timeout of each JetStream request (publish, stream and consumer API). */
  requestTimeoutMs?: number;
  /** @default 2: publish attempts per append, with the same `Nats-Msg-Id` (deduplicated by the server). */
  publishAttempts?: number;
  /** @default 2000: idle heartbeat of room followers; a stalled follower is repaired within 3 of them. */
  followHeartbeatMs?: number;
  /** @default 5000: while unhealthy, how often `health()` re-checks JetStream in the background. */
  reprobeIntervalMs?: number;
  logger?: { warn(obj: object, msg: string): void };
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 3_000;
const MISSING = 'history is enabled for a tenant but JetStream is not available on the NATS server (run nats-server with -js)';

/** The JetStream API did not answer at all: JetStream is not enabled (or not reachable) on the server. */
function isJetStreamMissing(error: unknown): boolean {
  if (error instanceof JetStreamApiError) return error.code === JetStreamApiCodes.JetStreamNotEnabledForAccount;
  if (error instanceof RequestError) return error.isNoResponders();
  return error instanceof Error && (error.name === 'JetStreamNotEnabled' || /jetstream is not enabled|no responders/i.test(error.message));
}

/**
 * History on NATS JetStream: one stream per tenant (`parley-history-<ns>`, subjects
 * `chat.<ns>.*`), created lazily from the tenant's retention (`max_msgs_per_subject` per room,
 * `max_age`, `max_bytes` with discard-old per tenant). A message's seq is its stream sequence.
 * Appends are JetStream publishes with `Nats-Msg-Id` = the message id (a retry after a lost ack
 * is deduplicated and answers the first seq). A follower is a consumer filtered on the room
 * subject that repairs itself after any stall (see `followRoom`), so delivery stays gap-free and
 * duplicate-free across reconnects and server restarts.
 */
export function createJetStreamHistoryStore(nc: NatsConnection, options: JetStreamHistoryStoreOptions = {}): HistoryStore & { probe(): Promise<HistoryHealth> } {
  const timeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const attempts = Math.max(1, options.publishAttempts ?? 2);
  const js = jetstream(nc, { timeout });
  let manager: Promise<JetStreamManager> | undefined;
  const jsm = () => (manager ??= jetstreamManager(nc, { checkAPI: false, timeout }));
  const ensurer = createStreamEnsurer(jsm, options.replicas ?? 1);
  const tenants = new Map<string, HistoryTenant>();
  const followers = new Set<RoomFollower>();
  const heartbeatMs = options.followHeartbeatMs ?? DEFAULT_FOLLOW_HEARTBEAT_MS;
  const watchdog = setInterval(() => {
    const now = Date.now();
    for (const follower of followers) follower.check(now);
  }, heartbeatMs);
  watchdog.unref();
  void (async () => {
    for await (const status of nc.status()) if (status.type === 'reconnect') for (const follower of [...followers]) follower.reconnected();
  })();
  let requested = false;
  let missing: string | undefined;
  let lastProbe = 0;
  /** Set when an append failed for good, cleared by the next stored one or a probe of that tenant's stream. */
  let unwritable: { ns: string; reason: string } | undefined;
  let lastWriteProbe = 0;
  const probeWritable = async (failing: { ns: string }) => {
    lastWriteProbe = Date.now();
    try {
      const info = await (await jsm()).streams.info(streamName(failing.ns));
      // A stream without a leader answers info from nowhere: `cluster.leader` is missing.
      if (info.cluster && !info.cluster.leader) return;
      if (unwritable === failing) unwritable = undefined;
    } catch {
      // still failing
    }
  };

  const observe = <T>(promise: Promise<T>): Promise<T> =>
    promise.then(
      (value) => {
        missing = undefined;
        return value;
      },
      (error: unknown) => {
        if (isJetStreamMissing(error)) {
          if (!missing) options.logger?.warn({ err: error }, MISSING);
          missing = MISSING;
        }
        throw error;
      },
    );
  const unavailable = (error: unknown) => (error instanceof ParleyError ? error : new ParleyError('history_unavailable', undefined, { cause: error }));
  const api = <T>(work: () => Promise<T>): Promise<T> => observe(work()).catch((error: unknown) => Promise.reject(unavailable(error)));

  const roomInfo = async (ns: string, room: string): Promise<{ info: StreamInfo; subject: string; count: number } | undefined> => {
    const subject = subjects.room(ns, room);
    try {
      const info = await (await jsm()).streams.info(streamName(ns), { subjects_filter: subject });
      return { info, subject, count: info.state.subjects?.[subject] ?? 0 };
    } catch (error) {
      if (isStreamNotFound(error)) return undefined;
      throw error;
    }
  };
  const reader = async (ns: string, subject: string) => createRoomReader(await jsm(), js, streamName(ns), subject, timeout);

  const publishWithRetry = async (ns: string, room: string, data: Uint8Array, { msgId, headers }: { msgId: string; headers?: Record<string, string> }): Promise<number> => {
    const subject = subjects.room(ns, room);
    const h = natsHeaders();
    for (const key in headers) h.set(key, headers[key] as string);
    for (let attempt = 1; ; attempt++) {
      try {
        return (await js.publish(subject, data, { msgID: msgId, headers: h, timeout })).seq;
      } catch (error) {
        if (error instanceof InvalidArgumentError && /max_payload/.test(error.message)) throw new ParleyError('frame_too_large', undefined, { cause: error });
        if (attempt >= attempts) throw error;
        const tenant = tenants.get(ns);
        if (isJetStreamMissing(error) && tenant) {
          // No stream took the message: it may have been deleted; recreate it (or learn that JetStream is gone).
          ensurer.forget(ns);
          await store.ensure(tenant);
        } else if (!(error instanceof TimeoutError) && !(error instanceof RequestError)) throw error;
      }
    }
  };

  const store: HistoryStore & { probe(): Promise<HistoryHealth> } = {
    kind: 'jetstream',
    ensure(tenant) {
      requested = true;
      tenants.set(tenant.ns, tenant);
      return api(() => ensurer.ensure(tenant));
    },
    async append(ns, room, data, options) {
      try {
        const seq = await publishWithRetry(ns, room, data, options);
        unwritable = undefined;
        return seq;
      } catch (error) {
        if (error instanceof ParleyError && error.code === 'frame_too_large') throw error;
        const cause = error instanceof ParleyError && error.cause instanceof Error ? error.cause : (error as Error);
        unwritable ??= { ns, reason: cause.message };
        throw unavailable(error);
      }
    },
    latest(ns, room, limit) {
      return api(async () => {
        const found = await roomInfo(ns, room);
        if (!found || found.count === 0) return { messages: [], more: false };
        const { first_seq: first, last_seq: last } = found.info.state;
        return readLatest(await reader(ns, found.subject), { first, last, count: found.count }, limit);
      });
    },
    before(ns, room, before, limit) {
      return api(async () => {
        const found = await roomInfo(ns, room);
        if (!found || found.count === 0 || before <= found.info.state.first_seq) return { messages: [], more: false };
        const roomReader = await reader(ns, found.subject);
        // The room's messages before `before`: all of them less those at or after it.
        const tail = await roomReader.open(before);
        const newer = tail.pending;
        tail.close();
        const { first_seq: first, last_seq: last } = found.info.state;
        return readLatest(roomReader, { first, last: Math.min(last, before - 1), count: found.count - newer, newer }, limit);
      });
    },
    after(ns, room, after, limit) {
      return api(async () => {
        const found = await roomInfo(ns, room);
        if (!found || found.count === 0) return { messages: [], more: false };
        return readAfter(await reader(ns, found.subject), after, limit);
      });
    },
    checkResume(ns, room, since) {
      return api(async () => {
        const found = await roomInfo(ns, room);
        if (!found) return { gap: since > 0, pending: 0, last: 0 };
        const { first_seq: first, last_seq: last } = found.info.state;
        // Everything is dropped oldest first: from the head of the stream (age, bytes) or from
        // the head of the room (count). Either may have taken a message after `since`:
        let gap = since > last || first > since + 1;
        let pending = 0;
        if (found.count > 0) {
          const cursor = await (await reader(ns, found.subject)).open(since + 1);
          pending = cursor.pending;
          cursor.close();
          if (found.count >= found.info.config.max_msgs_per_subject && pending >= found.count) gap = true;
        }
        return { gap, pending, last };
      });
    },
    delete(ns, room, seq) {
      return api(async () => {
        const manager = await jsm();
        let stored;
        try {
          stored = await manager.streams.getMessage(streamName(ns), { seq });
        } catch (error) {
          if (isStreamNotFound(error) || (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.NoMessageFound)) return false;
          throw error;
        }
        if (!stored || stored.subject !== subjects.room(ns, room)) return false;
        // Erased, not only unlinked: the deleted content does not stay on the server's disk.
        return manager.streams.deleteMessage(streamName(ns), seq, true);
      });
    },
    position(ns) {
      return api(async () => {
        try {
          return (await (await jsm()).streams.info(streamName(ns))).state.last_seq;
        } catch (error) {
          if (isStreamNotFound(error)) return 0;
          throw error;
        }
      });
    },
    follow(ns, room, after, listener) {
      return api(async (): Promise<HistoryFollower> => {
        let follower: RoomFollower | undefined;
        let ended = false;
        follower = await followRoom(nc, await jsm(), js, { stream: streamName(ns), subject: subjects.room(ns, room), after }, listener, {
          heartbeatMs,
          ended() {
            ended = true;
            if (follower) followers.delete(follower);
          },
        });
        if (!ended) followers.add(follower);
        return follower;
      });
    },
    health() {
      if (missing && requested) {
        if (Date.now() - lastProbe > (options.reprobeIntervalMs ?? 5_000)) void store.probe();
        return { ok: false, reason: missing };
      }
      if (unwritable) {
        const failing = unwritable;
        if (Date.now() - lastWriteProbe > (options.reprobeIntervalMs ?? 5_000)) void probeWritable(failing);
        return { ok: true, degraded: `history cannot be written (tenant ${failing.ns}): ${failing.reason}` };
      }
      return { ok: true };
    },
    async probe() {
      lastProbe = Date.now();
      try {
        await observe((await jsm()).getAccountInfo());
        return { ok: true };
      } catch (error) {
        const reason = isJetStreamMissing(error) ? 'JetStream is not enabled on the NATS server' : `JetStream check failed: ${(error as Error).message}`;
        return { ok: false, reason };
      }
    },
    async close() {
      clearInterval(watchdog);
      for (const follower of [...followers]) follower.stop();
    },
  };
  return store;
}

