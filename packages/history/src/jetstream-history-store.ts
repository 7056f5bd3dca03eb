import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { headers as natsHeaders, InvalidArgumentError, RequestError, TimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { ParleyError, subjects } from '@parley/protocol';
import type { HistoryFollower, HistoryHealth, HistoryStore, HistoryTenant } from './history-store.ts';
import { DEFAULT_FOLLOW_HEARTBEAT_MS, followRoom, type RoomFollower } from './jetstream-follower.ts';
import { createRoomReader, readAfter, readLatest } from './jetstream-reader.ts';
import { createStreamEnsurer, isStreamNotFound, mirrorConfig, streamName } from './jetstream-streams.ts';

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
  /**
   * Federation: this region and the one whose JetStream domain holds every tenant stream. In any
   * other region a tenant's stream is a mirror of the history region's: appends travel over the
   * inter-region link to the origin, and reads, resumes and live feeds use the local mirror, so
   * they go on while the link is cut (docs/architecture.md, "Federation").
   */
  federation?: { region: string; historyRegion: string };
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 3_000;
const MISSING = 'history is enabled for a tenant but JetStream is not available on the NATS server (run nats-server with -js)';
/** A failed JetStream request is logged at most this often (a stall fails every request at once). */
const FAILURE_WARNING_MS = 10_000;

/** Where a deletion is announced to the other regions' mirrors (federation). */
export const DELETED_SUBJECT = 'parley.fed.history-deleted';

function parseDeletion(data: Uint8Array): { ns: string; seq: number } | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(data)) as { ns?: unknown; seq?: unknown };
    if (typeof value.ns === 'string' && /^[a-z0-9-]{1,63}$/.test(value.ns) && Number.isSafeInteger(value.seq) && (value.seq as number) > 0) return { ns: value.ns, seq: value.seq as number };
  } catch {
    // not ours
  }
  return undefined;
}

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
  const replicas = options.replicas ?? 1;
  const historyRegion = options.federation && options.federation.historyRegion !== options.federation.region ? options.federation.historyRegion : undefined;
  // In a mirror region: `ensurer` keeps the local mirror, `origin` the stream in the history region.
  const ensurer = createStreamEnsurer(jsm, replicas, historyRegion ? (tenant, r) => mirrorConfig(tenant, r, historyRegion) : undefined);
  let originManager: Promise<JetStreamManager> | undefined;
  const originJsm = () => (originManager ??= jetstreamManager(nc, { checkAPI: false, timeout, domain: historyRegion! }));
  const origin = historyRegion ? createStreamEnsurer(originJsm, replicas) : undefined;
  let lastOriginWarning = 0;
  const ensureOrigin = (tenant: HistoryTenant) =>
    origin!.ensure(tenant).catch((error: unknown) => {
      if (Date.now() - lastOriginWarning > 10_000) {
        lastOriginWarning = Date.now();
        options.logger?.warn({ err: error, ns: tenant.ns, historyRegion }, 'the history region does not answer: its stream is not ensured (appends fail until it answers; reads use this region\'s mirror)');
      }
      throw error;
    });
  // Mirrors do not follow deletions: every region erases its own copy when told.
  const deletions = options.federation
    ? nc.subscribe(DELETED_SUBJECT, {
        queue: `parley-history-${options.federation.region}`,
        callback: (error, msg) => {
          if (error || !historyRegion) return;
          const deleted = parseDeletion(msg.data);
          if (deleted) void jsm().then((m) => m.streams.deleteMessage(streamName(deleted.ns), deleted.seq, true)).catch(() => {});
        },
      })
    : undefined;
  const historyRegionUnreachable = (cause: unknown) =>
    new ParleyError('history_unavailable', `this tenant's history is written in region ${historyRegion}, which this region cannot reach now; retry later`, { cause });
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
  let lastFailureWarning = 0;
  /** Clients only learn `history_unavailable`: the operator learns why (at most every `FAILURE_WARNING_MS`). */
  const unavailable = (error: unknown) => {
    if (error instanceof ParleyError) return error;
    if (!isJetStreamMissing(error) && Date.now() - lastFailureWarning > FAILURE_WARNING_MS) {
      lastFailureWarning = Date.now();
      options.logger?.warn({ err: error }, `a history request to JetStream failed; clients are answered history_unavailable (this warning repeats at most every ${FAILURE_WARNING_MS / 1000} s)`);
    }
    return new ParleyError('history_unavailable', undefined, { cause: error });
  };
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
  /**
   * In a mirror region, a `since` beyond the mirror's last seq is a mirror that has not caught up
   * (the client came from another region), unless the history region says its stream ends before
   * `since` too (it was reset). Unreachable, it is taken as lag: the feed delivers the rest.
   */
  const mirrorBehind = async (ns: string, since: number): Promise<boolean> => {
    if (!historyRegion) return false;
    try {
      return (await (await originJsm()).streams.info(streamName(ns))).state.last_seq >= since;
    } catch (error) {
      return !isStreamNotFound(error);
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
        if (attempt >= attempts) throw historyRegion && isJetStreamMissing(error) ? historyRegionUnreachable(error) : error;
        const tenant = tenants.get(ns);
        if (historyRegion && isJetStreamMissing(error)) {
          // Nothing took the message: the link to the history region is down, or its stream is missing.
          if (!tenant) throw historyRegionUnreachable(error);
          origin!.forget(ns);
          await ensureOrigin(tenant).catch((cause: unknown) => Promise.reject(historyRegionUnreachable(cause)));
        } else if (isJetStreamMissing(error) && tenant) {
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
      // The history region's stream is ensured beside the mirror, not awaited: reads need only the mirror.
      if (origin) void ensureOrigin(tenant).catch(() => {});
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
        let gap = (since > last && !(await mirrorBehind(ns, since))) || first > since + 1;
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
        // A mirror does not follow deletions: the history region's stream is erased first.
        if (historyRegion) await (await originJsm()).streams.deleteMessage(streamName(ns), seq, true);
        const deleted = await manager.streams.deleteMessage(streamName(ns), seq, true);
        if (options.federation) nc.publish(DELETED_SUBJECT, JSON.stringify({ ns, seq }));
        return deleted;
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
          requestTimeoutMs: timeout,
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
      deletions?.unsubscribe();
      for (const follower of [...followers]) follower.stop();
    },
  };
  return store;
}

