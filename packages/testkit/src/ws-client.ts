import WebSocket from 'ws';

export interface TestClientFrame {
  type: string;
  [key: string]: unknown;
}

/**
 * A real WebSocket client for tests: it records every frame, and `waitFor` resolves with the
 * first recorded frame (not yet taken) matching a predicate, or rejects after a deadline.
 */
export class TestClient {
  readonly ws: WebSocket;
  readonly frames: TestClientFrame[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private taken = new Set<TestClientFrame>();
  private closeInfo: { code: number; reason: string } | undefined;
  private waiters: Array<() => void> = [];

  /** `perMessageDeflate`: offer compression (default false here; the `ws` library would offer it). */
  constructor(url: string, options: { token?: string; origin?: string; protocols?: string[]; headers?: Record<string, string>; perMessageDeflate?: boolean } = {}) {
    const protocols = options.protocols ?? ['parley.v1', ...(options.token ? [`parley.token.${options.token}`] : [])];
    this.ws = new WebSocket(url, protocols, {
      perMessageDeflate: options.perMessageDeflate ?? false,
      ...(options.origin && { origin: options.origin }),
      ...(options.headers && { headers: options.headers }),
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.closed.then((info) => {
      this.closeInfo = info;
      this.notify();
    });
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.frames.push(JSON.parse(data.toString()) as TestClientFrame);
      this.notify();
    });
  }

  private notify() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  get isClosed() {
    return this.ws.readyState === WebSocket.CLOSED;
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer, binary = false) {
    this.ws.send(data, { binary });
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

  close() {
    this.ws.close();
    return this.closed;
  }
}

let requestCounter = 0;

/** Connects and waits for `welcome` (or for the refusal close). */
export async function connectClient(url: string, options: ConstructorParameters<typeof TestClient>[1] = {}): Promise<TestClient> {
  const client = new TestClient(url, options);
  await client.opened;
  return client;
}
