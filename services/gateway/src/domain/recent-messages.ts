/** Recent messages a room's feed keeps for resumes: at most this many… */
export const DEFAULT_RECENT_MESSAGES = 256;
/** …and at most this many bytes of frames per room. */
export const DEFAULT_RECENT_BYTES = 64 * 1024;

/**
 * The newest messages one room's feed delivered on this gateway, oldest first, with the promise
 * that every message of the room with a seq above `coveredAfter` is here. A member resuming after
 * such a seq is served from memory instead of the store: after a gateway dies, thousands of its
 * members resume at once on the others, and each read of the store is several JetStream requests.
 */
export class RecentMessages {
  private seqs: number[] = [];
  /** When each message was published (ms; its frame's `ts`), to answer as retention would. */
  private times: number[] = [];
  private frames: Uint8Array[] = [];
  private head = 0;
  private bytes = 0;
  /** Every message of the room with a greater seq is kept. */
  private covered: number;
  private readonly maxMessages: number;
  private readonly maxBytes: number;

  constructor(coveredAfter: number, maxMessages = DEFAULT_RECENT_MESSAGES, maxBytes = DEFAULT_RECENT_BYTES) {
    this.covered = coveredAfter;
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
  }

  get coveredAfter() {
    return this.covered;
  }

  /** Keeps a message the feed delivered (seqs only grow); `publishedAt` in ms. */
  push(seq: number, frame: Uint8Array, publishedAt: number) {
    this.seqs.push(seq);
    this.times.push(publishedAt);
    this.frames.push(frame);
    this.bytes += frame.byteLength;
    while (this.seqs.length - this.head > this.maxMessages || (this.bytes > this.maxBytes && this.seqs.length - this.head > 0)) this.dropOldest();
    if (this.head > 1024 && this.head * 2 > this.seqs.length) this.compact();
  }

  /**
   * The frames of every message after `since`, oldest first, when all of them are kept, `since`
   * is not beyond the last one delivered (`position`), and the store would still hold them all
   * under `retention` (at most `maxMessages` of the room, none older than `oldestMs`): otherwise
   * undefined, and the store answers (with `history_gap` if retention took some).
   */
  after(since: number, position: number, retention: { maxMessages: number; oldestMs: number }): Uint8Array[] | undefined {
    if (since < this.covered || since > position) return undefined;
    let i = this.seqs.length;
    while (i > this.head && (this.seqs[i - 1] as number) > since) i--;
    if (this.seqs.length - i > retention.maxMessages) return undefined;
    if (i < this.seqs.length && (this.times[i] as number) < retention.oldestMs) return undefined;
    return this.frames.slice(i);
  }

  /** Forgets a message a moderator deleted (resumes must not replay it); nothing when it is not kept. */
  remove(seq: number) {
    let i = this.seqs.length - 1;
    while (i >= this.head && (this.seqs[i] as number) > seq) i--;
    if (i < this.head || this.seqs[i] !== seq) return;
    this.bytes -= (this.frames[i] as Uint8Array).byteLength;
    this.seqs.splice(i, 1);
    this.times.splice(i, 1);
    this.frames.splice(i, 1);
  }

  private dropOldest() {
    this.covered = this.seqs[this.head] as number;
    this.bytes -= (this.frames[this.head] as Uint8Array).byteLength;
    this.frames[this.head] = EMPTY;
    this.head++;
  }

  private compact() {
    this.seqs = this.seqs.slice(this.head);
    this.times = this.times.slice(this.head);
    this.frames = this.frames.slice(this.head);
    this.head = 0;
  }
}

const EMPTY = new Uint8Array(0);
