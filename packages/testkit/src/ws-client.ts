import WebSocket from 'ws';
import { BINARY_FRAME, FrameRecorder, type TestClientFrame } from './frame-recorder.ts';

/**
 * A real WebSocket client for tests: it records every frame, and `waitFor` resolves with the
 * first recorded frame (not yet taken) matching a predicate, or rejects after a deadline.
 */
export class TestClient extends FrameRecorder {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;

  /** `perMessageDeflate`: offer compression (default false here; the `ws` library would offer it). */
  constructor(url: string, options: { token?: string; origin?: string; protocols?: string[]; headers?: Record<string, string>; perMessageDeflate?: boolean } = {}) {
    super();
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
      if (isBinary) this.record({ type: BINARY_FRAME, data: Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]) });
      else this.record(JSON.parse(data.toString()) as TestClientFrame);
    });
  }

  override get isClosed() {
    return this.ws.readyState === WebSocket.CLOSED;
  }

  override send(frame: unknown) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer, binary = false) {
    this.ws.send(data, { binary });
  }

  close() {
    this.ws.close();
    return this.closed;
  }
}


/** Connects and waits for `welcome` (or for the refusal close). */
export async function connectClient(url: string, options: ConstructorParameters<typeof TestClient>[1] = {}): Promise<TestClient> {
  const client = new TestClient(url, options);
  await client.opened;
  return client;
}
