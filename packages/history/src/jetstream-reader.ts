import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { HistoryPage, StoredMessage } from './history-store.ts';

/** A read consumer left behind (a crashed reader) is removed by the server after this. */
const READER_INACTIVE_MS = 30_000;

/** A position in one room: how many of its messages have a seq at or above `start`, and reading them. */
export interface RoomCursor {
  readonly pending: number;
  read(max: number): Promise<StoredMessage[]>;
  close(): void;
}

export interface RoomReader {
  /** Opens an ephemeral, unacknowledged consumer on the room's subject starting at `start`. */
  open(start: number): Promise<RoomCursor>;
}

/**
 * Reads of one room's messages. JetStream sequences are per stream, so a room's messages are
 * found through a consumer filtered on the room subject: creating one answers how many messages
 * follow a sequence (`num_pending`) without transferring them, which also serves the probes of
 * `readLatest`. Consumers are in memory, single replica, and deleted after use.
 */
export function createRoomReader(jsm: JetStreamManager, js: JetStreamClient, stream: string, subject: string, fetchTimeoutMs: number): RoomReader {
  return {
    async open(start) {
      const info = await jsm.consumers.add(stream, {
        filter_subject: subject,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: Math.max(1, start),
        ack_policy: AckPolicy.None,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: nanos(READER_INACTIVE_MS),
      });
      const consumer = js.consumers.getConsumerFromInfo(info);
      let remaining = info.num_pending;
      let closed = false;
      return {
        pending: info.num_pending,
        async read(max) {
          const wanted = Math.min(max, remaining);
          if (wanted <= 0 || closed) return [];
          const out: StoredMessage[] = [];
          // Exactly what is known to be there, so the fetch ends as soon as it arrived.
          for await (const m of await consumer.fetch({ max_messages: wanted, expires: fetchTimeoutMs })) out.push({ seq: m.seq, data: m.data });
          remaining = out.length < wanted ? 0 : remaining - out.length;
          return out;
        },
        close() {
          if (closed) return;
          closed = true;
          jsm.consumers.delete(stream, info.name).catch(() => {});
        },
      };
    },
  };
}

/** The first `limit` messages with a seq greater than `after`; `more` when others follow. */
export async function readAfter(reader: RoomReader, after: number, limit: number): Promise<HistoryPage> {
  const cursor = await reader.open(after + 1);
  try {
    return { messages: await cursor.read(limit), more: cursor.pending > limit };
  } finally {
    cursor.close();
  }
}

/**
 * The newest `limit` messages of a room that holds `count` of them between stream sequences
 * `first` and `last`. Sequences of other rooms lie in between, so the start is searched: windows
 * growing back from the end until one holds at least `limit` room messages, then halved while it
 * holds far more; each probe is one consumer creation, no message is transferred until the end.
 * `newer`: the room's messages after `last` (paging backwards), which every probe also counts.
 */
export async function readLatest(reader: RoomReader, range: { first: number; last: number; count: number; newer?: number }, limit: number): Promise<HistoryPage> {
  if (range.count <= 0) return { messages: [], more: false };
  const newer = range.newer ?? 0;
  const upToLast = (cursor: RoomCursor) => cursor.pending - newer;
  let lo = Math.max(1, range.first);
  let hi = range.last + 1;
  let chosen: RoomCursor | undefined;
  try {
    if (range.count > limit) {
      for (let width = limit * 2; ; width *= 4) {
        const start = Math.max(lo, hi - width);
        if (start <= lo) break;
        const cursor = await reader.open(start);
        if (upToLast(cursor) >= limit) {
          chosen = cursor;
          lo = start;
          break;
        }
        cursor.close();
        hi = start;
      }
      while ((chosen ? upToLast(chosen) : range.count) > 4 * limit && hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        const cursor = await reader.open(mid);
        if (upToLast(cursor) >= limit) {
          chosen?.close();
          chosen = cursor;
          lo = mid;
        } else {
          cursor.close();
          hi = mid;
        }
      }
    }
    chosen ??= await reader.open(lo);
    let messages = await chosen.read(range.newer === undefined ? chosen.pending : upToLast(chosen));
    // Paging backwards: a message stored meanwhile would be counted in the read; keep the range.
    if (range.newer !== undefined) messages = messages.filter((m) => m.seq <= range.last);
    return { messages: messages.slice(-limit), more: range.count > limit };
  } finally {
    chosen?.close();
  }
}
