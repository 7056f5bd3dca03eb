/**
 * The message bus port: how gateways, auth and presence exchange messages across nodes.
 * Subjects are dot-separated tokens; `*` matches one token and `>` the rest (NATS semantics).
 * Cross-node logic lives in the services; an implementation only moves bytes.
 */

/** Metadata that travels beside the payload (NATS headers). Keys are case-sensitive. */
export type BusHeaders = Record<string, string>;

/** How long control messages (revocations) are kept: 7 days, the longest user-token lifetime a tenant may set; older revocations cover only expired tokens. */
export const DEFAULT_CONTROL_RETENTION_SECONDS = 7 * 24 * 3600;

export const HEADER_MSG_ID = 'Parley-Msg-Id';
export const HEADER_ORIGIN = 'Parley-Origin';
export const HEADER_TIMESTAMP = 'Parley-Ts';
export const HEADER_TRACEPARENT = 'traceparent';

export interface BusMessage {
  subject: string;
  data: Uint8Array;
  headers: BusHeaders;
}

export type BusHandler = (message: BusMessage) => void;

export interface BusSubscription {
  readonly subject: string;
  /** Stops delivery; idempotent. */
  unsubscribe(): void;
}

/** `connected`: publishes go through. `reconnecting`: publishes fail with `unavailable`. `closed`: for good. */
export type BusState = 'connected' | 'reconnecting' | 'closed';

/** What a publisher says about a message, for observability only. */
export interface PublishedMessageInfo {
  /** The Parley message id (`messaging.message.id` on the publish span). */
  msgId?: string;
}

export interface Bus {
  readonly state: BusState;
  /**
   * Publishes `data` on `subject`. Resolves once the bus has accepted the message (NATS: the
   * server has acknowledged the write with a flush round trip); rejects with a ParleyError
   * `unavailable` when the bus is not connected. A rejected publish was not delivered by this
   * call; a resolved one was handed to every subscriber connected at that moment (at most once).
   * Messages published by one caller are delivered to each subscriber in publish order.
   * `about` describes the message to decorators (tracing) and is not transmitted: a message
   * whose frame carries its own id and time needs no headers, which make a NATS publish 2–3
   * times costlier (docs/architecture.md, "What a publish result means").
   */
  publish(subject: string, data: Uint8Array, headers?: BusHeaders, about?: PublishedMessageInfo): Promise<void>;
  /**
   * Subscribes to `subject` (wildcards allowed). The handler runs outside the publisher's call
   * stack. Subscriptions survive reconnects: the implementation re-establishes them.
   */
  subscribe(subject: string, handler: BusHandler): BusSubscription;
  /** Calls `listener` on every state change; returns a function that removes it. */
  onStateChange(listener: (state: BusState) => void): () => void;
  /**
   * Resolves once the bus server has processed every subscribe and publish made before the call
   * (NATS: one PING/PONG round trip). A subscription is active for messages published by others
   * only after this; rejects with `unavailable` when the bus is not connected.
   */
  flush(): Promise<void>;
  /** Number of live subscriptions this bus instance holds. */
  subscriptionCount(): number;
  /** Flushes pending publishes and closes. */
  close(): Promise<void>;
}

/** True when `subject` matches `pattern` under NATS wildcard rules. */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}
