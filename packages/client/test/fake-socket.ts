import type { WebSocketLike } from '../src/types.ts';

/** A scripted WebSocket: records what the client sends; the test plays the server. */
export class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  readonly url: string;
  readonly protocols: string[];
  readonly sent: Array<Record<string, unknown>> = [];
  closedWith: { code?: number; reason?: string } | undefined;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(url: string, protocols: string[]) {
    this.url = url;
    this.protocols = protocols;
    FakeSocket.all.push(this);
  }

  static get last(): FakeSocket {
    const s = FakeSocket.all.at(-1);
    if (!s) throw new Error('no socket yet');
    return s;
  }

  get token(): string {
    return (this.protocols[1] ?? '').slice('parley.token.'.length);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  /** The server's frames. */
  receive(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  welcome(exp = Math.floor(Date.now() / 1000) + 3600): void {
    this.readyState = 1;
    this.onopen?.({});
    this.receive({ type: 'welcome', protocol: 1, conn: 'c' + FakeSocket.all.length, user: 'ann', ns: 'acme', exp, limits: { maxFrameBytes: 16384, messagesPerSecond: 20, burst: 40, maxRooms: 100 } });
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  sentOfType(type: string): Array<Record<string, unknown>> {
    return this.sent.filter((f) => f.type === type);
  }
}

/** A JWT-shaped token with this `exp` (the client reads `exp` only; the server verifies). */
export function fakeToken(exp: number, n = 0): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ exp, n })}.sig`;
}
