import { withSeq, type StoredMessage } from '@parley/history';
import type { RoomFeed } from './history-feeds.ts';

/** What a catch-up needs from the member's socket. */
export interface CatchUpSocket {
  readonly closed: boolean;
  send(bytes: Uint8Array): void;
  subscribe(topic: string): void;
  /** Called when more live messages piled up during the replay than `maxBuffered`. */
  overflow(): void;
}

/** Live messages kept aside while a member replays; beyond this the member is closed as a slow consumer. */
export const DEFAULT_MAX_BUFFERED = 50_000;

/**
 * The seam between a member's replay (stored messages after its `since`) and the room's live
 * feed, so the member gets every message once, in seq order, with no gap and no duplicate:
 *
 * 1. Created before reading: from then on every message the feed delivers is buffered (a tap).
 *    Everything at or below the feed position at that moment (`startPosition`) is already stored.
 * 2. The replay sends stored messages after `since` while they are at or below `startPosition`
 *    (it may also send newer stored ones; `lastSent` remembers the highest seq sent).
 * 3. `finish` sends the buffered messages above `lastSent`, then subscribes the socket to the
 *    feed's topic, synchronously, so the next message the feed publishes reaches it there.
 *    If the replay got ahead of this gateway's feed (`lastSent` > feed position), the member
 *    waits on the tap, skipping what it has, until the feed catches up, and subscribes then.
 *
 * Sends and the subscription happen on the event loop between two feed deliveries, and
 * uWebSockets.js only hands a topic message to sockets subscribed when it was published, so the
 * switch can neither lose nor repeat a message.
 */
export class RoomCatchUp {
  readonly startPosition: number;
  private state: 'replaying' | 'waiting' | 'live' | 'cancelled' = 'replaying';
  private buffer: Array<{ seq: number; bytes: Uint8Array }> = [];
  private last: number;
  private replayed = 0;
  private readonly socket: CatchUpSocket;
  private readonly feed: RoomFeed;
  private readonly maxBuffered: number;
  private readonly untap: () => void;

  constructor(socket: CatchUpSocket, feed: RoomFeed, since: number, maxBuffered = DEFAULT_MAX_BUFFERED) {
    this.socket = socket;
    this.feed = feed;
    this.last = since;
    this.maxBuffered = maxBuffered;
    this.startPosition = feed.position;
    this.untap = feed.tap((seq, bytes) => this.live(seq, bytes));
  }

  /** The highest seq sent to the member so far (its `since` before anything was sent). */
  get lastSent() {
    return this.last;
  }
  get active() {
    return this.state !== 'cancelled' && !this.socket.closed;
  }
  /** True while stored messages up to `startPosition` may still be missing. */
  get needsStored() {
    return this.active && this.state === 'replaying' && this.last < this.startPosition;
  }
  /** Stored messages sent by the replay. */
  get replayedCount() {
    return this.replayed;
  }

  /**
   * Moves the start back to `seq` before anything was sent: the client's `since` lies beyond the
   * log (it was reset), so waiting for the feed to pass it would withhold new messages.
   */
  rewind(seq: number) {
    if (this.state === 'replaying' && this.replayed === 0 && seq < this.last) this.last = seq;
  }

  /** Sends stored messages (oldest first) that the member does not have yet. */
  sendStored(messages: StoredMessage[]) {
    for (const m of messages) {
      if (!this.active) return;
      if (m.seq <= this.last) continue;
      this.socket.send(withSeq(m.data, m.seq));
      this.last = m.seq;
      this.replayed++;
    }
  }

  /** Ends the replay: flushes what arrived meanwhile and switches the member to the live topic. */
  finish() {
    if (this.state !== 'replaying' || !this.active) return;
    const buffered = this.buffer;
    this.buffer = [];
    for (const b of buffered) {
      if (b.seq <= this.last) continue;
      this.socket.send(b.bytes);
      this.last = b.seq;
    }
    if (this.feed.position >= this.last) this.goLive();
    else this.state = 'waiting';
  }

  cancel() {
    if (this.state === 'cancelled') return;
    this.state = 'cancelled';
    this.buffer = [];
    this.untap();
  }

  private live(seq: number, bytes: Uint8Array) {
    if (!this.active) return this.cancel();
    if (this.state === 'replaying') {
      this.buffer.push({ seq, bytes });
      if (this.buffer.length > this.maxBuffered) {
        this.cancel();
        this.socket.overflow();
      }
      return;
    }
    if (this.state !== 'waiting') return;
    if (seq > this.last) {
      this.socket.send(bytes);
      this.last = seq;
    }
    if (this.feed.position >= this.last) this.goLive();
  }

  private goLive() {
    this.state = 'live';
    this.untap();
    this.socket.subscribe(this.feed.topic);
  }
}
