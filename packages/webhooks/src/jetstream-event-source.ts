import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { eventsFromMessage, type WebhookEvent } from './events.ts';

export const EVENTS_STREAM = 'PARLEY_WEBHOOK_EVENTS';
export const DISPATCHER_CONSUMER = 'dispatcher';
/** Room events (members joined and left, rooms occupied and vacated) as the gateways and the sweeper publish them. */
export const EVENT_SUBJECTS = ['events.*.*'];

export interface JetStreamEventSourceOptions {
  /** Events older than this are dropped by the stream (keep it above the dispatcher's retry period). @default 25 h */
  maxAgeMs?: number;
  /** Bound on the stream's size; the oldest events go first beyond it. @default 1 GiB */
  maxBytes?: number;
  /** @default 1 (3 on a clustered JetStream) */
  replicas?: number;
  /** An event not acknowledged within this is redelivered (a dispatcher died); in-progress events are kept alive. @default 30 s */
  ackWaitMs?: number;
  /** Events handed out and not yet acknowledged, across every dispatcher replica. @default 10000 */
  maxAckPending?: number;
}

export interface EventSource {
  /** Starts handing events to `handle`; an event is acknowledged when its promise resolves, and comes back later when it rejects. */
  start(handle: (event: WebhookEvent) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Webhook events recorded by JetStream: a work-queue stream captures every room-events message as the
 * server receives it (before any dispatcher sees it), and replicas share one durable consumer, so
 * each event goes to one dispatcher and is removed once acknowledged. The webhook id is derived
 * from the stream's creation time, the message's sequence and the event's place in it: the same
 * on every redelivery.
 */
export function createJetStreamEventSource(nc: NatsConnection, options: JetStreamEventSourceOptions = {}): EventSource {
  const ackWaitMs = options.ackWaitMs ?? 30_000;
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;

  const ensure = async () => {
    const jsm = await jetstreamManager(nc);
    const config = {
      subjects: EVENT_SUBJECTS,
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(options.maxAgeMs ?? 25 * 3600_000),
      max_bytes: options.maxBytes ?? 1024 ** 3,
      num_replicas: options.replicas ?? 1,
    };
    let info;
    try {
      info = await jsm.streams.update(EVENTS_STREAM, config);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
      info = await jsm.streams.add({ name: EVENTS_STREAM, ...config });
    }
    await jsm.consumers.add(EVENTS_STREAM, {
      durable_name: DISPATCHER_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ackWaitMs),
      max_ack_pending: options.maxAckPending ?? 10_000,
    });
    return Date.parse(info.created).toString(36);
  };

  const run = async (msg: JsMsg, epoch: string, handle: (event: WebhookEvent) => Promise<void>) => {
    const events = eventsFromMessage(msg.subject, msg.data, `evt_${epoch}_${msg.seq}`, new Date(Number(msg.info.timestampNanos) / 1e6));
    if (events.length === 0) return msg.term('not a room event');
    const keepAlive = setInterval(() => msg.working(), Math.max(1000, ackWaitMs / 3));
    try {
      // Handed over in order (the dispatcher keeps one room's events in order), settled together.
      await Promise.all(events.map((event) => handle(event)));
      msg.ack();
    } catch {
      msg.nak(1000);
    } finally {
      clearInterval(keepAlive);
    }
  };

  return {
    async start(handle) {
      const epoch = await ensure();
      const consumer = await jetstream(nc).consumers.get(EVENTS_STREAM, DISPATCHER_CONSUMER);
      const stream = await consumer.consume({ max_messages: 512 });
      messages = stream;
      loop = (async () => {
        for await (const msg of stream) void run(msg, epoch, handle);
      })();
    },
    async stop() {
      await messages?.close();
      await loop?.catch(() => {});
    },
  };
}
