import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type ConsumerInfo, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { hedged } from './hedged-request.ts';
import type { FollowerRepairReason, HistoryFollower, HistoryListener } from './history-store.ts';

/** @default 2000: idle heartbeat the server sends while a follower waits; a stall is detected after 2 missed (within 3). */
export const DEFAULT_FOLLOW_HEARTBEAT_MS = 2_000;
/** A follower's consumer is removed by the server after this long without a waiting pull (a crashed gateway). */
export const FOLLOW_INACTIVE_MS = 15_000;
const FOLLOW_BATCH = 256;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 500;
/** During a repair, a missing stream is taken for gone only after this long (a restarted server recovers its streams first). */
const STREAM_RECOVERY_MS = 10_000;
/**
 * JetStream answers a consumer create in milliseconds, or late (a busy server, leaders being
 * elected), or never: nats-server 2.10 places a single-replica consumer on a random peer of the
 * stream, including a node that died without shutting down, until it declares that node offline
 * 150 s later (a third of the creates on a three-replica stream). So a create still unanswered
 * after `HEDGE_AFTER_MS` gets a companion, up to `MAX_CREATES`, and all of them keep their time
 * (the request timeout from the first): the first answer is the consumer, the others are deleted
 * when they answer. Giving up on a slow create instead would fail every attempt on a busy server.
 */
const HEDGE_AFTER_MS = 1_000;
const MAX_CREATES = 3;

export interface FollowerOptions {
  heartbeatMs: number;
  /** The store's JetStream request timeout: how long a consumer create (with its hedges) may take. */
  requestTimeoutMs: number;
  /** Called once when the follower stopped, for good (see `HistoryListener.error`) or by `stop`. */
  ended(): void;
}

/** A room follower as its store drives it: one status loop and one watchdog timer serve all of them. */
export interface RoomFollower extends HistoryFollower {
  /** The connection reconnected: the consumer may be gone (server restarted, another node). */
  reconnected(): void;
  /** Called every heartbeat interval: repairs the follower when it heard nothing for two. */
  check(now: number): void;
}

const isStreamNotFound = (error: unknown) => error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;

/**
 * Follows one room subject from a stream sequence with a self-repairing consumer. The consumer
 * is ephemeral, unacknowledged, in memory, single replica, created by us (not the library's
 * ordered consumer, whose recovery after a server restart can pull one batch and then wait for
 * two missed 15 s heartbeats, and whose consumers linger 5 minutes after use). We watch it:
 *  - no message and no server heartbeat for two heartbeat intervals (checked every interval, so
 *    detected within three), a NATS reconnect, a deleted consumer, or a delivery-sequence gap
 *    each count as a stall;
 *  - on a stall the consumer is replaced by a new one starting after the last delivered
 *    sequence (hedged, see `HEDGE_AFTER_MS`), retried until JetStream answers; messages already
 *    delivered are skipped, so the listener sees each message once, in order.
 * The stream missing for good (`STREAM_RECOVERY_MS`), or recreated (its last sequence below
 * ours), is final: a recreated stream restarts its sequences. `stop` deletes
 * the consumer at once; a consumer we could not delete expires after `FOLLOW_INACTIVE_MS`.
 */
export async function followRoom(
  nc: NatsConnection,
  jsm: JetStreamManager,
  js: JetStreamClient,
  target: { stream: string; subject: string; after: number },
  listener: HistoryListener,
  options: FollowerOptions,
): Promise<RoomFollower> {
  const { stream, subject } = target;
  const heartbeatMs = Math.max(500, options.heartbeatMs);
  let last = target.after;
  let stopped = false;
  let generation = 0;
  let current: { messages: ConsumerMessages; name: string } | undefined;
  let lastActivity = Date.now();
  let repairing: Promise<void> | undefined;

  const dispose = (old: typeof current) => {
    if (!old) return;
    void old.messages.close().catch(() => {});
    jsm.consumers.delete(stream, old.name).catch(() => {});
  };

  /** A consumer from the first of up to `MAX_CREATES` hedged creates (see `HEDGE_AFTER_MS`). */
  const createConsumer = (): Promise<ConsumerInfo> => {
    const config = {
      filter_subject: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: last + 1,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(FOLLOW_INACTIVE_MS),
    };
    return hedged(() => jsm.consumers.add(stream, config), {
      afterMs: HEDGE_AFTER_MS,
      max: MAX_CREATES,
      timeoutMs: options.requestTimeoutMs,
      discard: (late) => void jsm.consumers.delete(stream, late.name).catch(() => {}),
    });
  };

  const open = async () => {
    const info = await createConsumer();
    if (stopped) {
      jsm.consumers.delete(stream, info.name).catch(() => {});
      return;
    }
    const mine = ++generation;
    let expected = 1;
    const consumer = js.consumers.getConsumerFromInfo(info);
    const messages = await consumer.consume({
      max_messages: FOLLOW_BATCH,
      expires: Math.max(10_000, heartbeatMs * 5),
      idle_heartbeat: heartbeatMs,
      callback: (m) => {
        if (mine !== generation || stopped) return;
        lastActivity = Date.now();
        if (m.info.deliverySequence !== expected) return void repair('gap');
        expected++;
        if (m.seq <= last) return;
        last = m.seq;
        listener.message({ seq: m.seq, data: m.data });
      },
    });
    if (stopped || mine !== generation) {
      dispose({ messages, name: info.name });
      return;
    }
    current = { messages, name: info.name };
    lastActivity = Date.now();
    void (async () => {
      for await (const status of messages.status()) {
        if (mine !== generation || stopped) return;
        if (status.type === 'heartbeat') lastActivity = Date.now();
        else if (status.type === 'stream_not_found') return fail(new Error(`history stream ${stream} was deleted`));
        else if (status.type === 'consumer_deleted' || status.type === 'consumer_not_found') return void repair('consumer_lost');
      }
    })();
    void messages.closed().then(() => {
      if (mine === generation && !stopped) void repair('consumer_lost');
    });
  };

  const fail = (error: Error) => {
    if (stopped) return;
    stop();
    listener.error(error);
  };

  /** Replaces the consumer; single flight, retried with a short backoff until it works or is final. */
  const repair = (reason: FollowerRepairReason): Promise<void> => {
    if (stopped || repairing) return repairing ?? Promise.resolve();
    generation++;
    const old = current;
    current = undefined;
    dispose(old);
    listener.repairing?.(reason, last);
    const started = Date.now();
    repairing = (async () => {
      for (let attempt = 0; !stopped; attempt++) {
        if (nc.isClosed()) return fail(new Error('NATS connection closed'));
        try {
          // A stream deleted and recreated restarts its sequences: following it from `last` would skip.
          if ((await jsm.streams.info(stream)).state.last_seq < last) return fail(new Error(`history stream ${stream} was reset`));
          await open();
          return;
        } catch (error) {
          // A restarted server answers "stream not found" until JetStream has recovered its streams.
          if (isStreamNotFound(error) && Date.now() - started > STREAM_RECOVERY_MS) return fail(new Error(`history stream ${stream} was deleted`, { cause: error }));
          await new Promise((r) => setTimeout(r, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt)));
        }
      }
    })().finally(() => {
      repairing = undefined;
      lastActivity = Date.now();
    });
    return repairing;
  };

  const stop = () => {
    if (stopped) return;
    stopped = true;
    generation++;
    dispose(current);
    current = undefined;
    options.ended();
  };

  try {
    await open();
  } catch (error) {
    stop();
    throw error;
  }
  return {
    stop,
    // Whatever the server kept (it may be another node, or restarted), start again from our cursor.
    reconnected: () => void repair('reconnect'),
    check(now) {
      if (!repairing && now - lastActivity > 2 * heartbeatMs) void repair('stalled');
    },
  };
}
