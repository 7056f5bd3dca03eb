import type { HistoryRetention, StoredMessage } from './history-store.ts';

/** Bytes charged per message on top of its data (seq, timestamps, bookkeeping). */
const ENTRY_OVERHEAD_BYTES = 64;
const EMPTY = new Uint8Array(0);
/** How long an append's msgId is remembered for deduplication (JetStream's default window). */
export const DUPLICATE_WINDOW_MS = 120_000;
const MAX_REMEMBERED_IDS = 100_000;

export interface LogEntry extends StoredMessage {
  ts: number;
  size: number;
  room: RoomLog;
  dead: boolean;
}

export interface RoomLog {
  readonly ns: string;
  readonly name: string;
  /** Entries in seq order; live ones from `head` on. */
  entries: LogEntry[];
  head: number;
  /** The highest seq of this room that retention dropped (0: none). */
  droppedUpTo: number;
  /** How many followers hold this room (it is not forgotten while followed). */
  followers: number;
}

/**
 * One tenant's history in memory: a seq counter, rooms, and a FIFO of all entries in seq order
 * (which is also age order) for the per-tenant age and byte limits. Everything is dropped oldest
 * first, so each room keeps an exact `droppedUpTo` and the resume check is exact.
 */
export class TenantLog {
  readonly ns: string;
  retention: HistoryRetention;
  version: number;
  seq = 0;
  bytes = 0;
  readonly rooms = new Map<string, RoomLog>();
  /** The highest dropped seq of rooms that were forgotten (emptied and unfollowed). */
  forgottenUpTo = 0;
  private fifo: LogEntry[] = [];
  private fifoHead = 0;
  private deadInFifo = 0;
  private readonly ids = new Map<string, { seq: number; at: number }>();

  constructor(ns: string, retention: HistoryRetention, version: number) {
    this.ns = ns;
    this.retention = retention;
    this.version = version;
  }

  room(name: string, create: true): RoomLog;
  room(name: string, create?: boolean): RoomLog | undefined;
  room(name: string, create = false): RoomLog | undefined {
    let room = this.rooms.get(name);
    if (!room && create) {
      // A forgotten room's drops are not known any more: assume the worst for a recreated one.
      room = { ns: this.ns, name, entries: [], head: 0, droppedUpTo: this.forgottenUpTo, followers: 0 };
      this.rooms.set(name, room);
    }
    return room;
  }

  /** Stores a message and returns its seq; a `msgId` seen within the duplicate window returns the first seq. */
  append(roomName: string, data: Uint8Array, msgId: string | undefined, now: number): { seq: number; duplicate: boolean } {
    if (msgId !== undefined) {
      this.forgetIds(now);
      const known = this.ids.get(msgId);
      if (known) return { seq: known.seq, duplicate: true };
    }
    const room = this.room(roomName, true);
    // A copy: `data` may be a view into a shared pool (see `encodeRoomMessageFrame`), which would stay alive with it.
    const entry: LogEntry = { seq: ++this.seq, data: data.slice(), ts: now, size: data.byteLength + ENTRY_OVERHEAD_BYTES, room, dead: false };
    room.entries.push(entry);
    this.fifo.push(entry);
    this.bytes += entry.size;
    if (msgId !== undefined) this.ids.set(msgId, { seq: entry.seq, at: now });
    while (room.entries.length - room.head > this.retention.maxMessagesPerRoom) this.dropRoomHead(room);
    this.enforce(now);
    return { seq: entry.seq, duplicate: false };
  }

  /** Removes a moderator-deleted message (not a retention drop: resumes see no gap). False when the room has no live entry with that seq. */
  delete(roomName: string, seq: number): boolean {
    const room = this.room(roomName);
    if (!room) return false;
    const index = room.entries.findIndex((e, i) => i >= room.head && e.seq === seq);
    if (index < 0) return false;
    const [entry] = room.entries.splice(index, 1) as [LogEntry];
    entry.dead = true;
    entry.data = EMPTY;
    this.deadInFifo++;
    this.bytes -= entry.size;
    return true;
  }

  /** Applies the age and byte limits, and forgets empty rooms nobody follows. */
  enforce(now: number) {
    const oldest = now - this.retention.maxAgeSeconds * 1000;
    for (;;) {
      const first = this.firstAlive();
      if (!first || (this.bytes <= this.retention.maxBytes && first.ts >= oldest)) break;
      this.dropRoomHead(first.room); // the oldest live entry of the tenant heads its room
    }
    if (this.deadInFifo > 1024 && this.deadInFifo > (this.fifo.length - this.fifoHead) / 2) {
      this.fifo = this.fifo.slice(this.fifoHead).filter((e) => !e.dead);
      this.fifoHead = 0;
      this.deadInFifo = 0;
    }
  }

  /** Live entries of a room with seq > `after`, oldest first. */
  liveAfter(room: RoomLog, after: number): LogEntry[] {
    const { entries } = room;
    let lo = room.head;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((entries[mid] as LogEntry).seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return entries.slice(lo);
  }

  liveCount(room: RoomLog) {
    return room.entries.length - room.head;
  }

  /** Forgets a room with no live entries and no followers, keeping its drops conservatively. */
  maybeForget(room: RoomLog) {
    if (room.followers > 0 || this.liveCount(room) > 0) return;
    this.forgottenUpTo = Math.max(this.forgottenUpTo, room.droppedUpTo);
    this.rooms.delete(room.name);
  }

  private firstAlive(): LogEntry | undefined {
    while (this.fifoHead < this.fifo.length) {
      const entry = this.fifo[this.fifoHead] as LogEntry;
      if (!entry.dead) return entry;
      this.fifoHead++;
      this.deadInFifo--;
    }
    if (this.fifoHead > 0) {
      this.fifo = [];
      this.fifoHead = 0;
    }
    return undefined;
  }

  private dropRoomHead(room: RoomLog) {
    const entry = room.entries[room.head++];
    if (!entry) return;
    entry.dead = true;
    entry.data = EMPTY; // the FIFO may keep the wrapper a while; not the bytes
    this.deadInFifo++;
    this.bytes -= entry.size;
    room.droppedUpTo = entry.seq;
    if (room.head > 1024 && room.head > room.entries.length / 2) {
      room.entries = room.entries.slice(room.head);
      room.head = 0;
    }
    this.maybeForget(room);
  }

  private forgetIds(now: number) {
    for (const [id, { at }] of this.ids) {
      if (at >= now - DUPLICATE_WINDOW_MS && this.ids.size <= MAX_REMEMBERED_IDS) break;
      this.ids.delete(id);
    }
  }
}
