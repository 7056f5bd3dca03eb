export interface TestClientFrame {
  type: string;
  [key: string]: unknown;
}

/** The `type` under which a binary frame is recorded (its bytes in `data`, a Buffer). */
export const BINARY_FRAME = '$binary';

let requestCounter = 0;

/**
 * What a test client of either transport shares: it records every server frame, and `waitFor`
 * resolves with the first recorded frame (not yet taken) matching a predicate, or rejects after
 * a deadline or once the connection closed.
 */
export abstract class FrameRecorder {
  readonly frames: TestClientFrame[] = [];
  protected closeInfo: { code: number; reason: string } | undefined;
  private readonly taken = new Set<TestClientFrame>();
  private waiters: Array<() => void> = [];

  abstract get isClosed(): boolean;
  abstract send(frame: unknown): void;

  protected record(frame: TestClientFrame) {
    this.frames.push(frame);
    this.notify();
  }

  protected notify() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves with the first untaken frame that matches, waiting up to `timeoutMs`. */
  async waitFor(match: string | ((f: TestClientFrame) => boolean), timeoutMs = 5000): Promise<TestClientFrame> {
    const predicate = typeof match === 'string' ? (f: TestClientFrame) => f.type === match : match;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find((f) => !this.taken.has(f) && predicate(f));
      if (found) {
        this.taken.add(found);
        return found;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.isClosed) {
        const closed = this.closeInfo ? `closed with ${this.closeInfo.code} ${this.closeInfo.reason}` : this.isClosed ? 'closed' : 'open';
        throw new Error(`no matching frame within ${timeoutMs} ms (${closed}); last frames: ${JSON.stringify(this.frames.slice(-5))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  /** Sends a request with a fresh id and waits for the reply (or error) echoing it. */
  async request(frame: Record<string, unknown>, timeoutMs = 5000): Promise<TestClientFrame> {
    const id = `r${++requestCounter}`;
    this.send({ ...frame, id });
    return this.waitFor((f) => f.id === id, timeoutMs);
  }

  /** Every frame received so far, in order. */
  get received(): readonly TestClientFrame[] {
    return this.frames;
  }

  /** Frames of a type received so far. */
  all(type: string) {
    return this.frames.filter((f) => f.type === type);
  }
}
