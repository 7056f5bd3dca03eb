import type { SystemName } from './protocols.ts';

/** One connection the worker opens. */
export interface ConnSpec {
  port: number;
  room: string;
  token?: string;
  /** A publisher is also a member of its room and counts its own echo (for the window). */
  publisher: boolean;
  /** Latency is sampled on this connection. */
  sampled: boolean;
}

export type WorkerRequest =
  | { type: 'connect'; system: SystemName; conns: ConnSpec[]; concurrency: number; payloadBytes?: number }
  | { type: 'publish'; mode: 'window'; window: number }
  | { type: 'publish'; mode: 'rate'; perPublisherPerSecond: number }
  | { type: 'stop-publish' }
  | { type: 'stats'; reset?: boolean }
  | { type: 'final'; sent: Record<string, number> }
  | { type: 'close-all' };

export type WorkerReply =
  | { type: 'connected'; ok: number; failed: number; ms: number; firstError?: string }
  | { type: 'publishing' }
  | { type: 'stopped'; sent: Record<string, number> }
  | { type: 'stats'; received: number; errors: number; closes: Record<string, number>; latency: [number, number][] }
  | { type: 'final'; silentMissing: number; accountedMissing: number; extra: number; closedConns: number }
  | { type: 'closed' };
