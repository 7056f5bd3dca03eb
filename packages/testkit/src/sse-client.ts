import { BINARY_FRAME, FrameRecorder, type TestClientFrame } from './frame-recorder.ts';

/** The close code an SSE client takes from a refused ticket request (the gateway's own close codes for the same refusals). */
const REFUSAL_CLOSE_CODES: Record<string, number> = { token_expired: 4001, token_revoked: 4102, auth_unavailable: 4005, too_many_connections: 4004 };

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/** Parses an event stream incrementally (the WHATWG rules that Parley's streams use: `id`, `event`, `data`, comments). */
export class SseParser {
  private buffer = '';
  private readonly decoder = new TextDecoder();
  push(chunk: Uint8Array): SseEvent[] {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    const events: SseEvent[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) !== -1) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let id: string | undefined;
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':') || line === '') continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0 || event !== 'message') events.push({ id, event, data: data.join('\n') });
    }
    return events;
  }
}

/**
 * A real SSE client for tests, with the same surface as TestClient: it exchanges its token for a
 * ticket (`POST /v1/sse/tickets`), reads the stream with fetch, sends each frame with its own
 * `POST`, in order, and can drop its stream and resume it with `Last-Event-ID`.
 */
export class SseTestClient extends FrameRecorder {
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Every event of the stream, `connection` and `close` included. */
  readonly events: SseEvent[] = [];
  connection: string | undefined;
  /** The connection's send key (from its `connection` event). */
  key: string | undefined;
  lastEventId = '';
  ticket: string | undefined;
  /** HTTP statuses of the client's POSTs, in order. */
  readonly postStatuses: number[] = [];
  private readonly base: string;
  private readonly options: { token?: string; origin?: string; headers?: Record<string, string> };
  private resolveClosed!: (info: { code: number; reason: string }) => void;
  private stream: AbortController | undefined;
  private sending: Promise<void> = Promise.resolve();
  private connected!: () => void;
  private readonly hasConnection: Promise<void>;

  /** `base`: the gateway's HTTP origin, such as `http://127.0.0.1:8080`. */
  constructor(base: string, options: { token?: string; origin?: string; headers?: Record<string, string> } = {}) {
    super();
    this.base = base.replace(/\/$/, '');
    this.options = options;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.hasConnection = new Promise((resolve) => (this.connected = resolve));
    this.opened = this.open();
    this.opened.catch(() => {});
  }

  private headers(extra: Record<string, string> = {}) {
    return { ...(this.options.origin && { origin: this.options.origin }), ...this.options.headers, ...extra };
  }

  private async open() {
    const response = await fetch(`${this.base}/v1/sse/tickets`, { method: 'POST', headers: this.headers(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) });
    const body = (await response.json()) as { ticket?: string; code?: string; message?: string };
    if (response.status !== 201 || !body.ticket) {
      this.record({ type: 'error', ...body } as TestClientFrame);
      this.finish({ code: REFUSAL_CLOSE_CODES[body.code ?? ''] ?? 4100, reason: body.code ?? `HTTP ${response.status}` });
      return;
    }
    this.ticket = body.ticket;
    await this.attach({});
  }

  /** Opens the stream (again, with `Last-Event-ID` when resuming); resolves once it answered 200. */
  private async attach(headers: Record<string, string>): Promise<Response> {
    const controller = new AbortController();
    this.stream = controller;
    const response = await fetch(`${this.base}/v1/sse?ticket=${this.ticket}`, { headers: this.headers(headers), signal: controller.signal });
    if (response.status !== 200 || !response.body) {
      return response;
    }
    void this.read(response.body, controller);
    return response;
  }

  private async read(body: ReadableStream<Uint8Array>, controller: AbortController) {
    const parser = new SseParser();
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const event of parser.push(value)) this.onEvent(event);
      }
      if (this.stream === controller && !this.closeInfo) this.finish({ code: 1006, reason: 'stream ended without a close event' });
    } catch {
      // Aborted by dropStream or close.
    }
  }

  private onEvent(event: SseEvent) {
    this.events.push(event);
    if (event.id !== undefined) this.lastEventId = event.id;
    if (event.event === 'connection') {
      ({ connection: this.connection, key: this.key } = JSON.parse(event.data) as { connection: string; key: string });
      this.connected();
    } else if (event.event === 'close') {
      const info = JSON.parse(event.data) as { code: number; message: string };
      this.finish({ code: info.code, reason: info.message });
    } else if (event.event === 'message') {
      this.record(JSON.parse(event.data) as TestClientFrame);
    } else if (event.event === 'binary') {
      this.record({ type: BINARY_FRAME, data: Buffer.from(event.data, 'base64') });
    }
  }

  private finish(info: { code: number; reason: string }) {
    if (this.closeInfo) return;
    this.closeInfo = info;
    this.resolveClosed(info);
    this.notify();
  }

  override get isClosed() {
    return this.closeInfo !== undefined;
  }

  override send(frame: unknown) {
    this.sendRaw(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** One POST with `data` as its body (frames, one per line), sent after the previous ones answered. */
  sendRaw(data: string | Buffer) {
    this.sending = this.sending.then(async () => {
      await this.hasConnection;
      const response = await fetch(`${this.base}/v1/sse/connections/${this.connection}`, { method: 'POST', headers: this.headers({ 'content-type': 'text/plain', authorization: `Bearer ${this.key}` }), body: data });
      this.postStatuses.push(response.status);
      await response.arrayBuffer();
    });
    this.sending.catch(() => {});
  }

  /** Drops the stream, as a broken network would; the connection waits on the gateway to be resumed. */
  dropStream() {
    this.stream?.abort();
    this.stream = undefined;
  }

  /** Reopens the stream with `Last-Event-ID`; resolves with the HTTP status (200 when resumed). */
  async resume(lastEventId = this.lastEventId): Promise<number> {
    const response = await this.attach({ 'last-event-id': lastEventId });
    if (response.status !== 200) await response.arrayBuffer();
    return response.status;
  }

  /** Closes the connection (`DELETE`), as a client does when it is done. */
  async close() {
    if (!this.closeInfo && this.connection) {
      await this.sending;
      await fetch(`${this.base}/v1/sse/connections/${this.connection}`, { method: 'DELETE', headers: this.headers({ authorization: `Bearer ${this.key}` }) }).then((r) => r.arrayBuffer(), () => undefined);
    }
    this.dropStream();
    this.finish({ code: 1000, reason: 'closed by the client' });
    return this.closed;
  }
}

