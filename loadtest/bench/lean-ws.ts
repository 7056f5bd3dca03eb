import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { constants as zlib, inflateRawSync } from 'node:zlib';

/**
 * A minimal WebSocket client over a raw TCP socket, for the load generator only: it hands every
 * text frame to the caller as a byte range of the receive buffer (no copy, no string, no event
 * object), answers pings, and sends text frames with an all-zero mask (valid per RFC 6455 §5.3,
 * and it spares the XOR). Thousands of these fit in one process and cost a fraction of `ws`.
 */
export interface LeanSocketHandlers {
  /** The upgrade was accepted (101). */
  open(socket: LeanSocket): void;
  /** One text frame; the payload is `buf[start, end)` and is valid only during the call. */
  text(buf: Buffer, start: number, end: number, socket: LeanSocket): void;
  /** The connection ended; `code` is the close code the server sent, the HTTP status of a refused upgrade, or 1006. */
  close(code: number, socket: LeanSocket): void;
}

export interface LeanSocketOptions {
  port: number;
  host?: string;
  path: string;
  headers?: Record<string, string>;
}

const CRLF2 = Buffer.from('\r\n\r\n');
/** permessage-deflate strips this from every message (RFC 7692 §7.2.1); inflating needs it back. */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
// The message ends in a sync flush, not a final block: inflate up to it without asking for the end of the stream.
const inflate = (payload: Buffer) => inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), { finishFlush: zlib.Z_SYNC_FLUSH });
const ZERO_MASK = Buffer.alloc(4);
/**
 * One read buffer shared by every socket of the process (`onread`): reads do not allocate, and
 * only the bytes of an incomplete frame at the end of a read are copied aside.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export class LeanSocket {
  readonly socket: Socket;
  private readonly handlers: LeanSocketHandlers;
  private upgraded = false;
  private pending: Buffer | undefined;
  private fragments: Buffer[] = [];
  /** The message being reassembled was compressed (RSV1 on its first frame). */
  private fragmentsCompressed = false;
  private closeCode = 1006;
  private ended = false;
  /** The socket error that ended the connection, if any (ECONNRESET…). */
  error: string | undefined;
  /** Free for the caller (protocol state). */
  state: Record<string, unknown> = {};

  constructor(options: LeanSocketOptions, handlers: LeanSocketHandlers) {
    this.handlers = handlers;
    const host = options.host ?? '127.0.0.1';
    this.socket = connect({
      port: options.port,
      host,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => (this.onData(buf.subarray(0, n) as Buffer), true) },
    });
    const headers = Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    this.socket.write(
      `GET ${options.path} HTTP/1.1\r\nHost: ${host}:${options.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${headers}\r\n`,
    );
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      this.error = error.code ?? error.message;
    });
    this.socket.on('close', () => {
      if (this.ended) return;
      this.ended = true;
      this.handlers.close(this.closeCode, this);
    });
  }

  get open() {
    return this.upgraded && !this.ended;
  }

  /** The server accepted the upgrade (whatever happened next). */
  get wasUpgraded() {
    return this.upgraded;
  }

  /** Sends one text frame. */
  send(text: string) {
    if (this.ended) return;
    const length = Buffer.byteLength(text);
    const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(headerLength + 4 + length);
    frame[0] = 0x81;
    if (length < 126) frame[1] = 0x80 | length;
    else if (length < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(length), 2);
    }
    ZERO_MASK.copy(frame, headerLength);
    frame.write(text, headerLength + 4);
    this.socket.write(frame);
  }

  private control(opcode: number, payload: Buffer) {
    if (this.ended) return;
    const frame = Buffer.allocUnsafe(6 + payload.length);
    frame[0] = 0x80 | opcode;
    frame[1] = 0x80 | payload.length;
    ZERO_MASK.copy(frame, 2);
    payload.copy(frame, 6);
    this.socket.write(frame);
  }

  close(code = 1000) {
    if (this.ended) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.control(0x8, payload);
    this.socket.end();
  }

  /** Drops the TCP connection without a close frame. */
  destroy() {
    this.socket.destroy();
  }

  /** For failure reports: bytes held back waiting for the rest of a frame, and timings. */
  get pendingBytes() {
    return this.pending?.length ?? 0;
  }
  readonly createdAt = performance.now();
  lastDataAt = 0;

  private onData(chunk: Buffer) {
    this.lastDataAt = performance.now();
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let offset = 0;
    if (!this.upgraded) {
      const end = buf.indexOf(CRLF2);
      if (end < 0) {
        this.pending = Buffer.from(buf);
        return;
      }
      const status = buf.toString('latin1', 0, Math.min(end, 64));
      if (!/^HTTP\/1\.1 101/.test(status)) {
        this.closeCode = Number(/^HTTP\/1\.1 (\d+)/.exec(status)?.[1] ?? 1006);
        this.socket.destroy();
        return;
      }
      this.upgraded = true;
      offset = end + 4;
      this.handlers.open(this);
    }
    this.socket.cork();
    try {
      while (buf.length - offset >= 2) {
        const b0 = buf[offset]!;
        let length = buf[offset + 1]! & 0x7f;
        let header = 2;
        if (length === 126) {
          if (buf.length - offset < 4) break;
          length = buf.readUInt16BE(offset + 2);
          header = 4;
        } else if (length === 127) {
          if (buf.length - offset < 10) break;
          length = Number(buf.readBigUInt64BE(offset + 2));
          header = 10;
        }
        if (buf.length - offset < header + length) break;
        const start = offset + header;
        const end = start + length;
        offset = end;
        const opcode = b0 & 0x0f;
        const fin = (b0 & 0x80) !== 0;
        const compressed = (b0 & 0x40) !== 0;
        if (opcode === 0x1 && fin && !compressed) this.handlers.text(buf, start, end, this);
        else if (opcode === 0x1 && fin) {
          const text = inflate(buf.subarray(start, end));
          this.handlers.text(text, 0, text.length, this);
        } else if (opcode === 0x1 || opcode === 0x0) {
          if (opcode === 0x1) this.fragmentsCompressed = compressed;
          this.fragments.push(Buffer.from(buf.subarray(start, end)));
          if (fin) {
            const joined = Buffer.concat(this.fragments);
            const whole = this.fragmentsCompressed ? inflate(joined) : joined;
            this.fragments = [];
            this.handlers.text(whole, 0, whole.length, this);
          }
        } else if (opcode === 0x9) this.control(0xa, buf.subarray(start, end));
        else if (opcode === 0x8) {
          this.closeCode = length >= 2 ? buf.readUInt16BE(start) : 1005;
          this.control(0x8, buf.subarray(start, Math.min(end, start + 2)));
          this.socket.end();
        }
      }
    } finally {
      this.socket.uncork();
    }
    // The read buffer is reused by the next read: keep a copy of what is left.
    if (offset < buf.length) this.pending = Buffer.from(buf.subarray(offset));
  }
}
