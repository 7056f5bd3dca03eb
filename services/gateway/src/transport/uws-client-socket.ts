import { CLOSE_CODES } from '@parley/protocol';
import type { ClientSocket } from '../domain/client-socket.ts';
import type { ConnectionState } from '../domain/connection.ts';
import { COMPRESS_MIN_BYTES } from './compression.ts';
import type { WebSocket } from './uws.ts';

/** Per-socket state: the connection's (see domain/connection.ts) and the transport's own. */
export interface SocketData extends ConnectionState {
  /** permessage-deflate was negotiated: frames of COMPRESS_MIN_BYTES or more are sent compressed. */
  compressed: boolean;
}

/** Close reasons by close code, for the metric label of closes the gateway asked for. */
export const CLOSE_REASONS = new Map<number, string>(Object.entries(CLOSE_CODES).map(([name, code]) => [code, name]));

/** Sockets with frames queued by `sendBatched`, written once the current turn's microtasks have run. */
const socketsWithQueuedFrames: UwsClientSocket[] = [];
const writeQueuedFrames = () => {
  // Index loop: a socket queued while this runs (not expected) is still written.
  for (let i = 0; i < socketsWithQueuedFrames.length; i++) {
    try {
      socketsWithQueuedFrames[i]!.writeQueued();
    } catch {
      // One socket's failed write must not keep the others' frames queued.
    }
  }
  socketsWithQueuedFrames.length = 0;
};

/** The domain's view of a uWebSockets.js socket; one small object per connection, methods shared. */
export class UwsClientSocket implements ClientSocket {
  private readonly ws: WebSocket<SocketData>;
  private readonly data: SocketData;
  private readonly onDropped: (ws: WebSocket<SocketData>) => void;
  private queued: Array<string | Uint8Array> | undefined = undefined;

  constructor(ws: WebSocket<SocketData>, onDropped: (ws: WebSocket<SocketData>) => void) {
    this.ws = ws;
    this.data = ws.getUserData();
    this.onDropped = onDropped;
  }

  get closed() {
    return this.data.closed;
  }
  send(payload: string | Uint8Array) {
    if (this.queued) {
      const frames = this.queued;
      this.queued = undefined;
      frames.push(payload);
      return this.write(frames);
    }
    // A slow consumer gets nothing more: its close follows what is already buffered.
    if (this.data.closed || this.data.closeReason === 'slow_consumer') return;
    const ws = this.ws;
    let status = 0;
    ws.cork(() => (status = ws.send(payload, false, this.data.compressed && payload.length >= COMPRESS_MIN_BYTES)));
    // 2: dropped for backpressure. Nothing accepted may vanish silently: the socket is closed as
    // a slow consumer (uWebSockets.js may also report it through `dropped`; either way once).
    if (status === 2) this.onDropped(ws);
  }
  sendBatched(payload: string | Uint8Array) {
    if (this.data.closed || this.data.closeReason === 'slow_consumer') return;
    if (this.queued) {
      this.queued.push(payload);
      return;
    }
    this.queued = [payload];
    if (socketsWithQueuedFrames.push(this) === 1) queueMicrotask(writeQueuedFrames);
  }
  writeQueued() {
    const frames = this.queued;
    if (!frames) return;
    this.queued = undefined;
    this.write(frames);
  }
  /** Several frames under one cork: one system call. */
  private write(frames: Array<string | Uint8Array>) {
    if (this.data.closed || this.data.closeReason === 'slow_consumer') return;
    const ws = this.ws;
    const compressed = this.data.compressed;
    let dropped = false;
    ws.cork(() => {
      for (const frame of frames) {
        if (ws.send(frame, false, compressed && frame.length >= COMPRESS_MIN_BYTES) === 2) {
          dropped = true;
          return;
        }
      }
    });
    if (dropped) this.onDropped(ws);
  }
  bufferedAmount() {
    return this.data.closed ? 0 : this.ws.getBufferedAmount();
  }
  subscribe(topic: string) {
    if (!this.data.closed && this.data.closeReason !== 'slow_consumer') this.ws.subscribe(topic);
  }
  unsubscribe(topic: string) {
    if (!this.data.closed) this.ws.unsubscribe(topic);
  }
  end(code: number, reason: string) {
    if (this.data.closed) return;
    this.data.closeReason ??= CLOSE_REASONS.get(code);
    this.ws.end(code, reason);
  }
}
