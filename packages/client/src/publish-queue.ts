import { ParleyError } from './errors.ts';

/** A publish or direct message that has not been acknowledged yet. */
export interface OutgoingEntry {
  /** The client-generated publish id the server deduplicates on. */
  readonly pid: string;
  readonly frame: Record<string, unknown>;
  /** The room a publish goes to: it is sent once the room is (re)joined, if it is joined. */
  readonly room: string | undefined;
  /** The request id of the send on the current connection; undefined while waiting. */
  requestId: string | undefined;
  resolve(ack: { msgId: string; seq?: number }): void;
  reject(error: ParleyError): void;
}

/**
 * The publishes not acknowledged yet, in the order the application made them: those waiting for
 * a connection and those sent on the current one. Bounded: when full, a new publish is refused
 * with `queue_full` rather than growing memory while offline.
 */
export class PublishQueue {
  private entries: OutgoingEntry[] = [];
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.entries.length;
  }

  add(entry: OutgoingEntry): boolean {
    if (this.entries.length >= this.max) return false;
    this.entries.push(entry);
    return true;
  }

  /** The waiting entries `ready` accepts, in order (they are then sent by the caller). */
  waiting(ready: (entry: OutgoingEntry) => boolean): OutgoingEntry[] {
    return this.entries.filter((e) => e.requestId === undefined && ready(e));
  }

  /** Removes and returns the entry sent with this request id. */
  settle(requestId: string): OutgoingEntry | undefined {
    const i = this.entries.findIndex((e) => e.requestId === requestId);
    if (i < 0) return undefined;
    return this.entries.splice(i, 1)[0];
  }

  /** The connection is gone: every sent entry waits again, to be resent with the same `pid`. */
  unsend(): void {
    for (const e of this.entries) e.requestId = undefined;
  }

  /** Removes the entries `drop` selects and rejects them. */
  reject(error: ParleyError, drop: (entry: OutgoingEntry) => boolean = () => true): void {
    const dropped = this.entries.filter(drop);
    this.entries = this.entries.filter((e) => !drop(e));
    for (const e of dropped) e.reject(error);
  }
}
