import type { StormSystemName } from './storm-codecs.ts';

/**
 * What a client of the reconnect storm does: `storm` clients sit on the node that is killed and
 * resume elsewhere; `survivor`s sit on the other nodes and measure delivery latency; `publisher`s
 * (also on the other nodes) publish at a paced rate into their rooms.
 */
export type StormRole = 'storm' | 'survivor' | 'publisher';

export interface StormClientSpec {
  role: StormRole;
  user: string;
  token: string | undefined;
  /** One room for storm clients and survivors; several for a publisher. */
  rooms: string[];
  port: number;
  /** Storm clients: the surviving nodes to reconnect to. */
  resumePorts: number[];
}

/** Microsecond timestamps on CLOCK_MONOTONIC (shared by every process of the machine); 0: not reached. */
export interface ResumeTimes {
  disconnectAt: number;
  welcomeAt: number;
  joinedAt: number;
  caughtUpAt: number;
  attempts: number;
}

export interface StormProgress {
  /** Storm clients created so far, and those that joined their room (before the kill). */
  clients: number;
  ready: number;
  disconnected: number;
  welcomed: number;
  joined: number;
  caughtUp: number;
  attempts: number;
  failedAttempts: number;
  failedAttemptReasons: Record<string, number>;
  received: number;
  /** `history_gap` errors (Parley) or subscriptions answered `recovered: false` (Centrifugo). */
  gaps: number;
  errors: number;
  /** Errors answering a join that had already been answered with `joined` (the client SDK ignores them). */
  errorsAfterJoined: number;
  /** Rooms the gateway dropped after `joined` (an error for the room without request id), joined again with since. */
  droppedRooms: number;
  /** Closes of survivors and publishers, and of storm clients before the kill: none expected. */
  unexpectedCloses: number;
  errorExamples: string[];
}

export interface SequenceCheck {
  clients: number;
  clientsWithLoss: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  /** Received sequence numbers that no survivor of the room saw. */
  unexpected: number;
  examples: string[];
}

export type StormRequest =
  | { type: 'open'; system: StormSystemName; clients: StormClientSpec[]; concurrency: number; backoffBaseMs: number }
  | { type: 'progress' }
  | { type: 'publish'; perPublisherPerSecond: number }
  | { type: 'stop-publish' }
  | { type: 'latency'; reset: boolean }
  | { type: 'positions' }
  | { type: 'arm'; targets: Record<string, number> }
  | { type: 'reference' }
  | { type: 'check'; reference: Record<string, number[]> }
  | { type: 'times' }
  | { type: 'close-all' };

export type StormReply =
  | { type: 'opened'; ok: number; failed: number; firstError?: string }
  | { type: 'progress'; progress: StormProgress }
  | { type: 'publishing' }
  | { type: 'stopped'; sent: number; ackedPerRoom: Record<string, number>; publishErrors: number }
  | { type: 'latency'; pairs: [number, number][]; ackPairs: [number, number][]; maxDeliveryMs: number; maxAckMs: number }
  | { type: 'positions'; highest: Record<string, number> }
  | { type: 'armed' }
  | { type: 'reference'; seqs: Record<string, number[]> }
  | { type: 'check'; check: SequenceCheck }
  | { type: 'times'; times: ResumeTimes[] }
  | { type: 'closed' };
