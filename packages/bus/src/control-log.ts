import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type ConsumerInfo } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_CONTROL_RETENTION_SECONDS, type BusMessage } from './bus.ts';

/** The JetStream stream that keeps control messages (`ctl.*`) so a gateway started later learns past revocations. */
export const CONTROL_STREAM = 'parley-control';
const CONTROL_STREAM_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Creates (or updates) the control stream. Called by the auth service at start; without
 * JetStream it throws and the caller carries on without it (revocations then reach only the
 * gateways running when they are made).
 */
export async function ensureControlStream(nc: NatsConnection, retentionSeconds = DEFAULT_CONTROL_RETENTION_SECONDS): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = { subjects: ['ctl.*'], max_age: nanos(retentionSeconds * 1000), max_bytes: CONTROL_STREAM_MAX_BYTES, num_replicas: 1 };
  try {
    await jsm.streams.info(CONTROL_STREAM);
    await jsm.streams.update(CONTROL_STREAM, config);
  } catch (error) {
    if (!(error instanceof JetStreamApiError)) throw error;
    await jsm.streams.add({ name: CONTROL_STREAM, ...config });
  }
}

/**
 * Every control message kept in the stream, oldest first, up to the moment of the call. A gateway
 * replays them at start, then relies on its live `ctl.*` subscription (replaying a message it also
 * receives live is harmless: control messages are idempotent).
 */
export async function readControlLog(nc: NatsConnection, options: { fetchTimeoutMs?: number } = {}): Promise<BusMessage[]> {
  const jsm = await jetstreamManager(nc);
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.add(CONTROL_STREAM, {
      deliver_policy: DeliverPolicy.All,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(30_000),
    });
  } catch (error) {
    // Auth creates the stream before it records anything: none yet (a fresh install) means nothing to replay.
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return [];
    throw error;
  }
  try {
    const consumer = jetstream(nc).consumers.getConsumerFromInfo(info);
    const out: BusMessage[] = [];
    let remaining = info.num_pending;
    while (remaining > 0) {
      const before = out.length;
      for await (const m of await consumer.fetch({ max_messages: Math.min(remaining, 1000), expires: options.fetchTimeoutMs ?? 5000 })) {
        out.push({ subject: m.subject, data: m.data, headers: {} });
      }
      if (out.length === before) break;
      remaining -= out.length - before;
    }
    return out;
  } finally {
    await jsm.consumers.delete(CONTROL_STREAM, info.name).catch(() => false);
  }
}
