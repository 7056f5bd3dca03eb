import type { WebSocketLike } from './types.ts';

/** The close code of a refused ticket request, by its error code (the gateway's own for the same refusals). */
const REFUSALS: Record<string, number> = { token_expired: 4001, auth_unavailable: 4005, too_many_connections: 4004, token_revoked: 4102, token_invalid: 4100, forbidden: 4101 };
const MAX_FRAMES_PER_POST = 16;
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** The SSE address of a gateway's WebSocket address: `wss://h/v1/ws` → `https://h/v1/sse`. */
export const sseUrlOf = (wsUrl: string): string => wsUrl.replace(/^ws/, 'http').replace(/\/v1\/ws(?=$|[?#])/, '/v1/sse');

/**
 * The SSE transport behind the WebSocket interface the client already speaks
 * (docs/protocol.md, "SSE transport"): the token is exchanged for a ticket, the server's frames
 * are read from the event stream with `fetch`, the client's go by `POST` (queued, one request at
 * a time, several frames per request), and a broken stream is resumed once with `Last-Event-ID`.
 */
export class SseSocket implements WebSocketLike {
  readyState = CONNECTING;
  readonly protocol = 'parley.v1';
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  private readonly base: string;
  private ticket = '';
  private sendUrl = '';
  private sendHeaders: Record<string, string> = {};
  private lastEventId = '';
  private stream: AbortController | undefined;
  private outbox: string[] = [];
  private posting = false;

  /** `url`: the gateway's WebSocket or SSE address; `protocols` as for a WebSocket (the token in `parley.token.…`). */
  constructor(url: string, protocols: string[]) {
    this.base = sseUrlOf(url);
    const token = protocols.find((p) => p.startsWith('parley.token.'))?.slice(13) ?? '';
    void this.start(token);
  }

  /** Text frames only: the client does not hand binary frames to an SSE socket. */
  send(data: string | ArrayBufferView | ArrayBuffer): void {
    if (this.readyState !== OPEN || typeof data !== 'string') return;
    this.outbox.push(data);
    void this.post();
  }

  close(): void {
    if (this.readyState === CLOSED) return;
    const sendUrl = this.sendUrl;
    this.end(1000, 'closed by the client');
    if (sendUrl) fetch(sendUrl, { method: 'DELETE', headers: this.sendHeaders }).catch(() => {});
  }

  private async start(token: string) {
    // Aborted by close(), so a socket closed meanwhile opens no stream (and holds no connection).
    const controller = new AbortController();
    this.stream = controller;
    try {
      const response = await fetch(`${this.base}/tickets`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
      const body = (await response.json()) as { ticket?: string; code?: string; message?: string };
      if (this.readyState === CLOSED) return;
      if (!body.ticket) return this.refused(body.code, body.message ?? `HTTP ${response.status}`);
      this.ticket = body.ticket;
      if (!(await this.attach())) this.end(1006, 'the event stream did not open');
    } catch (error) {
      this.end(1006, String((error as Error)?.message ?? error));
    }
  }

  /** Opens (or, with `lastEventId`, resumes) the stream; false when the gateway refused it. */
  private async attach(): Promise<boolean> {
    const controller = new AbortController();
    this.stream = controller;
    const response = await fetch(`${this.base}?ticket=${encodeURIComponent(this.ticket)}`, {
      headers: this.lastEventId ? { 'last-event-id': this.lastEventId } : {},
      signal: controller.signal,
    });
    if (this.readyState === CLOSED) {
      controller.abort();
      return false;
    }
    if (response.status !== 200 || !response.body) {
      const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
      if (!this.lastEventId) this.refused(body.code, body.message ?? `HTTP ${response.status}`);
      return false;
    }
    void this.read(response.body.getReader(), controller);
    return true;
  }

  private async read(reader: ReadableStreamDefaultReader<Uint8Array>, controller: AbortController) {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          this.event(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      // The stream broke (or was aborted by close).
    }
    if (this.stream !== controller || this.readyState === CLOSED) return;
    // Lost without a close event: resume once, from the last event received.
    const resumed = this.readyState === OPEN && (await this.attach().catch(() => false));
    if (!resumed) this.end(1006, 'the event stream was lost');
  }

  private event(block: string) {
    let name = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const field = line.slice(0, colon);
      const value = line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
      if (field === 'event') name = value;
      else if (field === 'data') data += data ? '\n' + value : value;
      else if (field === 'id') this.lastEventId = value;
    }
    if (this.readyState === CLOSED) return;
    if (name === 'message') {
      if (data) this.onmessage?.({ data });
    } else if (name === 'binary') {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      this.onmessage?.({ data: bytes.buffer });
    } else if (name === 'connection') {
      const { send, key } = JSON.parse(data) as { send: string; key: string };
      this.sendUrl = new URL(send, this.base).href;
      this.sendHeaders = { authorization: `Bearer ${key}` };
      this.readyState = OPEN;
      this.onopen?.({});
    } else if (name === 'close') {
      const info = JSON.parse(data) as { code: number; message: string };
      this.end(info.code, info.message);
    }
  }

  /** Sends what waits, one request at a time so the gateway handles frames in order. */
  private async post() {
    if (this.posting) return;
    this.posting = true;
    try {
      while (this.outbox.length > 0 && this.readyState === OPEN) {
        const frames = this.outbox.splice(0, MAX_FRAMES_PER_POST);
        const response = await fetch(this.sendUrl, { method: 'POST', headers: { ...this.sendHeaders, 'content-type': 'text/plain' }, body: frames.join('\n') });
        if (response.status === 404) this.end(1006, 'the connection is closed');
        else if (!response.ok) this.end(1006, `sending failed with HTTP ${response.status}`);
      }
    } catch (error) {
      this.end(1006, String((error as Error)?.message ?? error));
    } finally {
      this.posting = false;
    }
  }

  private refused(code: string | undefined, message: string) {
    this.end(REFUSALS[code ?? ''] ?? 1006, message);
  }

  private end(code: number, reason: string) {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.stream?.abort();
    this.stream = undefined;
    this.onclose?.({ code, reason });
  }
}
