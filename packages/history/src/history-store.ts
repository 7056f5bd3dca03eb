/**
 * The history port: where room messages of tenants with history are stored, read back, and
 * followed live. Two implementations pass the same contract suite: JetStream (one stream per
 * tenant, the scaled default) and in-memory (one process only).
 *
 * Sequences. Every stored message gets a `seq` from its tenant's log: strictly increasing within
 * a tenant (so within every room), the same on every gateway, but NOT contiguous within a room
 * (other rooms of the tenant take numbers in between). `0` means "before the first message".
 *
 * Retention. Messages are dropped oldest first, per room by count, per tenant by age and by total
 * bytes, so within one room everything that is dropped is older than everything that is kept.
 */

/** Retention of a tenant's history; carried in the user token (`hret` claim). */
export interface HistoryRetention {
  /** Messages older than this are dropped. */
  maxAgeSeconds: number;
  /** Per room, only the newest this many messages are kept. */
  maxMessagesPerRoom: number;
  /** Per tenant, the oldest messages (of any room) are dropped above this many stored bytes. */
  maxBytes: number;
}

export const DEFAULT_HISTORY_RETENTION: Readonly<HistoryRetention> = {
  maxAgeSeconds: 24 * 3600,
  maxMessagesPerRoom: 1000,
  maxBytes: 64 * 1024 * 1024,
};

/** Upper bounds a token may ask for; values above are clamped. */
export const MAX_HISTORY_RETENTION: Readonly<HistoryRetention> = {
  maxAgeSeconds: 365 * 24 * 3600,
  maxMessagesPerRoom: 100_000,
  maxBytes: 64 * 1024 * 1024 * 1024,
};

/** A tenant's history settings as a gateway learns them: from a token issued at `version` (its `iat`). */
export interface HistoryTenant {
  ns: string;
  retention: HistoryRetention;
  /** Newer settings win: a store never replaces settings applied from a higher version. */
  version: number;
}

export interface StoredMessage {
  seq: number;
  /** The stored `message` frame bytes, without `seq` (see `withSeq`). */
  data: Uint8Array;
}

export interface HistoryPage {
  /** Oldest first. */
  messages: StoredMessage[];
  /** `after` reads: newer messages exist. `latest` reads: older retained messages exist. */
  more: boolean;
}

export interface ResumeCheck {
  /**
   * True when a message of the room with a seq greater than `since` may have been dropped by
   * retention (or `since` is beyond the tenant's log, which was reset). Never false when one was
   * dropped; the JetStream store may also say true when only `since` itself expired.
   */
  gap: boolean;
  /** Retained messages of the room with a seq greater than `since`, when the check ran. */
  pending: number;
  /** The tenant's last seq when the check ran; `since` above it means the log was reset. */
  last: number;
}

/**
 * Why a follower replaced its subscription: it heard nothing (no message, no server heartbeat)
 * for two heartbeat intervals, the NATS connection reconnected, its consumer was deleted, or a
 * delivery was skipped.
 */
export type FollowerRepairReason = 'stalled' | 'reconnect' | 'consumer_lost' | 'gap';

export interface HistoryListener {
  /** Each message of the room with a seq above the start, once, in seq order. */
  message(message: StoredMessage): void;
  /** The follower stopped for good (its tenant's log was deleted, the store closed). */
  error(error: Error): void;
  /**
   * The follower detected a stall and is resubscribing after `after` (the last seq it delivered);
   * delivery continues with the next message, without loss or duplicates. JetStream only.
   */
  repairing?(reason: FollowerRepairReason, after: number): void;
}

export interface HistoryFollower {
  stop(): void;
}

export interface HistoryHealth {
  ok: boolean;
  reason?: string;
  /**
   * Set while ok: history cannot be written now (the last append failed for good and nothing was
   * stored since). Not a reason to refuse connections: plain tenants, and reads, still work.
   */
  degraded?: string;
}

export interface HistoryStore {
  readonly kind: 'memory' | 'jetstream';
  /**
   * Creates the tenant's log, or updates its retention when `tenant.version` is at least the
   * version that set the current one. Cheap when nothing changed (answered from a cache).
   */
  ensure(tenant: HistoryTenant): Promise<void>;
  /**
   * Stores a room message and resolves with its seq once stored (JetStream: the server's ack).
   * Appends with the same `msgId` within the duplicate window (2 minutes) are stored once and
   * resolve with the first seq. Rejects with ParleyError `history_unavailable` (not stored, or not
   * known to be) or `frame_too_large`.
   */
  append(ns: string, room: string, data: Uint8Array, options: { msgId: string; headers?: Record<string, string> }): Promise<number>;
  /** The newest `limit` retained messages of the room; `more` when older ones are retained. */
  latest(ns: string, room: string, limit: number): Promise<HistoryPage>;
  /** The newest `limit` retained messages of the room with a seq less than `before`; `more` when older ones are retained. */
  before(ns: string, room: string, before: number, limit: number): Promise<HistoryPage>;
  /** The first `limit` retained messages of the room with a seq greater than `after`. */
  after(ns: string, room: string, after: number, limit: number): Promise<HistoryPage>;
  /** Whether a client that saw everything of the room up to `since` can resume without a hole. */
  checkResume(ns: string, room: string, since: number): Promise<ResumeCheck>;
  /**
   * Removes the room's stored message with this seq (a moderator deleted it): reads and resumes
   * no longer return it, and it is not a gap. False when the room has no such retained message.
   */
  delete(ns: string, room: string, seq: number): Promise<boolean>;
  /** The tenant's last assigned seq (any room); 0 when it has stored nothing. */
  position(ns: string): Promise<number>;
  /**
   * Follows a room from `after`: every message with a greater seq, stored or still to come, is
   * handed to the listener once, in order, outside the caller's stack. Resolves once following.
   */
  follow(ns: string, room: string, after: number, listener: HistoryListener): Promise<HistoryFollower>;
  /**
   * Not ok when history was requested and the backend (JetStream) is unavailable. `degraded` when
   * the last append failed for good and nothing was stored since (JetStream: a probe of that
   * tenant's stream clears it).
   */
  health(): HistoryHealth;
  close(): Promise<void>;
}

/** Header set on a bus copy of a message that was already stored (value: its seq). */
export const HEADER_HISTORY_SEQ = 'Parley-Seq';

/** Fills missing retention fields with defaults and clamps every field to sane bounds. */
export function resolveRetention(claimed: Partial<HistoryRetention> | undefined): HistoryRetention {
  const pick = (key: keyof HistoryRetention) => {
    const value = claimed?.[key];
    const wanted = typeof value === 'number' && Number.isFinite(value) && value >= 1 ? Math.floor(value) : DEFAULT_HISTORY_RETENTION[key];
    return Math.min(wanted, MAX_HISTORY_RETENTION[key]);
  };
  return { maxAgeSeconds: pick('maxAgeSeconds'), maxMessagesPerRoom: pick('maxMessagesPerRoom'), maxBytes: Math.max(1024, pick('maxBytes')) };
}

const encoder = new TextEncoder();

/**
 * The frame bytes with `"seq":<n>` added as the first member. Done once per message per gateway,
 * on bytes, so the frame is not parsed or serialized again.
 */
export function withSeq(data: Uint8Array, seq: number): Uint8Array {
  const empty = data.length === 2; // "{}"
  const prefix = encoder.encode(empty ? `{"seq":${seq}` : `{"seq":${seq},`);
  const out = new Uint8Array(prefix.length + data.length - 1);
  out.set(prefix, 0);
  out.set(data.subarray(1), prefix.length);
  return out;
}
