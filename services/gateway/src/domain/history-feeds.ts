import { withSeq, type FollowerRepairReason, type HistoryFollower, type HistoryRetention, type HistoryStore } from '@parley/history';
import type { Logger } from '@parley/observability';
import { roomMessageTimestamp, subjects } from '@parley/protocol';
import type { Fanout } from './fanout.ts';
import { RecentMessages } from './recent-messages.ts';

/** Called with each message a feed delivers, after it was fanned out to the feed's topic. */
export type FeedTap = (seq: number, bytes: Uint8Array) => void;

/** The live history of one room on this gateway. */
export interface RoomFeed {
  /** The uWebSockets.js topic its messages are published on (with `seq` in the frame). */
  readonly topic: string;
  /** The seq of the last message published on the topic (or the tenant's position when the feed started). */
  readonly position: number;
  /** Sees every message from now on, right after it was published on the topic. Returns the remover. */
  tap(fn: FeedTap): () => void;
  /**
   * The frames (with seq) of every message of the room after `since`, when this feed still holds
   * all of them in memory and the tenant's retention has dropped none of them; undefined when the
   * store must be read.
   */
  recentAfter(since: number, retention: HistoryRetention): Uint8Array[] | undefined;
}

/** A hold on a feed; the feed stops with its last lease. `release` is idempotent. */
export interface FeedLease {
  readonly feed: RoomFeed;
  release(): void;
}

interface Entry {
  topic: string;
  refs: number;
  position: number;
  taps: Set<FeedTap>;
  recent: RecentMessages | undefined;
  lost: Set<() => void>;
  follower: HistoryFollower | undefined;
  ready: Promise<void>;
  feed: RoomFeed;
}

export const historyTopic = (ns: string, room: string) => `h:${subjects.room(ns, room)}`;

/**
 * One history follower per room with local history members, shared by all of them: each stored
 * message of the room arrives once, in seq order, gets `"seq"` added to its bytes once, and is
 * handed to uWebSockets.js's native fan-out on the room's history topic. Because every gateway
 * follows the same stored log, members see the same order and the same seqs on every gateway.
 * Taps let a resuming member see messages that arrive while it replays (see `RoomCatchUp`).
 */
export function createHistoryFeeds(
  store: HistoryStore,
  fanout: Fanout,
  /** `delivered` gets each fanned-out message's size and its publish time (the frame's `ts`). */
  options: { logger: Logger; delivered?(bytes: number, publishedAt: number | undefined): void; repaired?(reason: FollowerRepairReason): void },
) {
  const entries = new Map<string, Entry>();

  const stop = (entry: Entry) => {
    if (entries.get(entry.topic) === entry) entries.delete(entry.topic);
    entry.follower?.stop();
    entry.follower = undefined;
  };

  const start = (ns: string, room: string, topic: string): Entry => {
    const taps = new Set<FeedTap>();
    const entry: Entry = {
      topic,
      refs: 0,
      position: 0,
      taps,
      recent: undefined,
      lost: new Set(),
      follower: undefined,
      ready: Promise.resolve(),
      feed: {
        topic,
        get position() {
          return entry.position;
        },
        tap(fn) {
          taps.add(fn);
          return () => taps.delete(fn);
        },
        recentAfter(since, retention) {
          return entry.recent?.after(since, entry.position, { maxMessages: retention.maxMessagesPerRoom, oldestMs: Date.now() - retention.maxAgeSeconds * 1000 });
        },
      },
    };
    entry.ready = (async () => {
      entry.position = await store.position(ns);
      let recent = (entry.recent = new RecentMessages(entry.position));
      const follower = await store.follow(ns, room, entry.position, {
        message(m) {
          if (m.seq <= entry.position) return;
          entry.position = m.seq;
          const bytes = withSeq(m.data, m.seq);
          fanout.publish(topic, bytes);
          const deleted = deletedSeqOf(m.data);
          if (deleted !== undefined) recent.remove(deleted);
          const publishedAt = roomMessageTimestamp(m.data);
          recent.push(m.seq, bytes, publishedAt ?? Date.now());
          if (taps.size > 0) for (const tap of [...taps]) tap(m.seq, bytes);
          options.delivered?.(bytes.byteLength, publishedAt);
        },
        repairing(reason, after) {
          // Retention may have taken messages while the feed was stalled, unseen: the store answers resumes from before now.
          recent = entry.recent = new RecentMessages(entry.position);
          options.logger.warn({ ns, reason, after }, 'history feed of a room stalled; resubscribing from its last seq');
          options.repaired?.(reason);
        },
        error(error) {
          options.logger.warn({ err: error, ns }, 'history feed of a room stopped; its members are told to rejoin');
          stop(entry);
          for (const lost of [...entry.lost]) lost();
        },
      });
      // Everyone may have left while the follower was starting.
      if (entry.refs === 0 || entries.get(topic) !== entry) follower.stop();
      else entry.follower = follower;
    })();
    entry.ready.catch(() => stop(entry));
    return entry;
  };

  return {
    /**
     * Takes a lease on the room's feed, starting it if needed; resolves once it follows the log.
     * `lost` is called if the feed later fails for good (the member should leave and rejoin).
     */
    async acquire(ns: string, room: string, lost: () => void): Promise<FeedLease> {
      const topic = historyTopic(ns, room);
      let entry = entries.get(topic);
      if (!entry) entries.set(topic, (entry = start(ns, room, topic)));
      const held = entry;
      held.refs++;
      held.lost.add(lost);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        held.lost.delete(lost);
        if (--held.refs === 0) stop(held);
      };
      try {
        await held.ready;
      } catch (error) {
        release();
        throw error;
      }
      return { feed: held.feed, release };
    },
    /** Rooms with a running feed. */
    count() {
      return entries.size;
    },
    close() {
      for (const entry of [...entries.values()]) stop(entry);
    },
  };
}

export type HistoryFeeds = ReturnType<typeof createHistoryFeeds>;

const DELETED_PREFIX = new TextEncoder().encode('{"type":"message.deleted"');

/** The seq a `message.deleted` tombstone removed from the room's history, read from its stored bytes. */
function deletedSeqOf(data: Uint8Array): number | undefined {
  if (data.byteLength < DELETED_PREFIX.length) return undefined;
  for (let i = 0; i < DELETED_PREFIX.length; i++) if (data[i] !== DELETED_PREFIX[i]) return undefined;
  try {
    const seq = (JSON.parse(new TextDecoder().decode(data)) as { deleted?: { seq?: unknown } }).deleted?.seq;
    return typeof seq === 'number' ? seq : undefined;
  } catch {
    return undefined;
  }
}
