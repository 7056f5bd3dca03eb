import { encodeRoomEvents, messageEventOf, subjects } from '@parley/protocol';
import type { EndpointStore } from './endpoint-store.ts';

/** How the recorder reaches room messages and the events stream (NATS in a cluster, the in-memory bus in one process). */
export interface MessageTap {
  /** Subscribes to every room message of tenant `ns` (`chat.<ns>.*`); returns the unsubscribe. */
  subscribe(ns: string, handler: (data: Uint8Array) => void): () => void;
  /** Records an events message on `subject`, durably where it can; `dedupeId` names it for the store's duplicate window. */
  record(subject: string, payload: Uint8Array, dedupeId: string): Promise<void>;
}

export interface MessageRecorderOptions {
  /** How often the endpoints are read to follow which tenants want `message.published`. @default 1000 ms */
  pollMs?: number;
  /** Attempts to record one message before it is given up (counted by `lost`). @default 5 */
  attempts?: number;
  /** A message was recorded as a `message.published` event. */
  recorded?: () => void;
  /** A message could not be recorded after every attempt: no endpoint will hear of it. */
  lost?: (ns: string, error: unknown) => void;
  /** The set of tenants followed changed. */
  following?: (tenants: number) => void;
}

export interface MessageRecorder {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Turns room messages into `message.published` events, only for tenants with an enabled endpoint
 * that asked for them (opt-in: no other tenant's traffic is read or recorded). Each message is
 * recorded on the room's events subject, so the dispatchers deliver it like any room event: in
 * the room's order, retried, at least once. Messages are recorded from when the tenant's first
 * such endpoint is seen (within `pollMs`).
 */
export function createMessageRecorder(endpoints: EndpointStore, tap: MessageTap, options: MessageRecorderOptions = {}): MessageRecorder {
  const pollMs = options.pollMs ?? 1000;
  const attempts = options.attempts ?? 5;
  const followed = new Map<string, () => void>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const recordWithRetries = async (ns: string, subject: string, payload: Uint8Array, dedupeId: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await tap.record(subject, payload, dedupeId);
        return options.recorded?.();
      } catch (error) {
        if (attempt >= attempts || stopped) return options.lost?.(ns, error);
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  };

  const follow = (ns: string) =>
    tap.subscribe(ns, (data) => {
      const event = messageEventOf(data);
      if (!event) return;
      void recordWithRetries(ns, subjects.roomEvents(ns, event.room), encodeRoomEvents([event]), `msg:${ns}:${event.message!.msgId}`);
    });

  const refresh = async () => {
    const wanted = new Set<string>();
    for (const ns of await endpoints.tenants()) {
      if ((await endpoints.list(ns)).some((e) => e.enabled && e.events.includes('message.published'))) wanted.add(ns);
    }
    if (stopped) return;
    for (const [ns, unsubscribe] of followed) if (!wanted.has(ns)) (unsubscribe(), followed.delete(ns));
    for (const ns of wanted) if (!followed.has(ns)) followed.set(ns, follow(ns));
    options.following?.(followed.size);
  };

  const loop = async () => {
    await refresh().catch(() => {}); // the endpoint store is unreachable: keep following what we follow
    if (!stopped) timer = setTimeout(() => void loop(), pollMs);
  };

  return {
    async start() {
      await refresh();
      timer = setTimeout(() => void loop(), pollMs);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      for (const unsubscribe of followed.values()) unsubscribe();
      followed.clear();
    },
  };
}
