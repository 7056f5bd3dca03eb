import { type WebhookEndpoint, wants } from './endpoint.ts';
import type { EndpointStore } from './endpoint-store.ts';
import { orderKey, type WebhookEvent } from './events.ts';
import { deliver, type DeliveryResult } from './delivery.ts';
import type { UrlPolicy } from './url-policy.ts';

export const DEFAULT_RETRY_PERIOD_MS = 24 * 3600_000;
export const DEFAULT_BACKOFF_BASE_MS = 1000;
export const DEFAULT_BACKOFF_CAP_MS = 5 * 60_000;
export const DEFAULT_ENDPOINT_CACHE_MS = 1000;

export interface DispatcherOptions {
  endpoints: EndpointStore;
  policy: UrlPolicy;
  /** How long an event is retried (from when it was recorded) before it is given up and its endpoint disabled. @default 24 h */
  retryPeriodMs?: number;
  /** Backoff between attempts: full jitter over min(cap, base × 2^attempt). @default 1 s, 5 min */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Per attempt. @default 10 s */
  timeoutMs?: number;
  /** How long a tenant's endpoint list may be reused (only for events that arrived before it was read). @default 1 s */
  endpointCacheMs?: number;
  observer?: DispatcherObserver;
}

/** What happened, for metrics and logs (never the secret or the body). */
export interface DispatcherObserver {
  /** Delivery of `event` to `endpoint` starts (attempts and retries follow until `settled`). */
  delivering?(endpoint: WebhookEndpoint, event: WebhookEvent): void;
  /** Delivery of `event` to `endpoint` ended: delivered, given up, or stopped with the dispatcher. */
  settled?(endpoint: WebhookEndpoint, event: WebhookEvent): void;
  attempted?(endpoint: WebhookEndpoint, event: WebhookEvent, result: DeliveryResult, ms: number): void;
  gaveUp?(endpoint: WebhookEndpoint, event: WebhookEvent, lastError: string): void;
  backlog?(events: number): void;
}

export interface Dispatcher {
  /**
   * Delivers `event` to every enabled endpoint of its tenant that wants it, retrying until each
   * succeeds or the retry period ends; resolves then (the caller acknowledges the event). Events
   * of one room are handled one after another, in the order given.
   */
  handle(event: WebhookEvent): Promise<void>;
  /** Stops retrying: pending `handle` calls reject (their events stay unacknowledged and come back). */
  stop(): void;
}

/** One observer that tells each of `observers` everything. */
export function combineObservers(...observers: DispatcherObserver[]): DispatcherObserver {
  return {
    delivering: (endpoint, event) => observers.forEach((o) => o.delivering?.(endpoint, event)),
    settled: (endpoint, event) => observers.forEach((o) => o.settled?.(endpoint, event)),
    attempted: (endpoint, event, result, ms) => observers.forEach((o) => o.attempted?.(endpoint, event, result, ms)),
    gaveUp: (endpoint, event, lastError) => observers.forEach((o) => o.gaveUp?.(endpoint, event, lastError)),
    backlog: (events) => observers.forEach((o) => o.backlog?.(events)),
  };
}

export class DispatcherStopped extends Error {
  constructor() {
    super('dispatcher stopped');
  }
}

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const retryPeriodMs = options.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
  const base = options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const cap = options.backoffCapMs ?? DEFAULT_BACKOFF_CAP_MS;
  const cacheMs = options.endpointCacheMs ?? DEFAULT_ENDPOINT_CACHE_MS;
  const chains = new Map<string, Promise<void>>();
  const cache = new Map<string, { at: number; endpoints: Promise<WebhookEndpoint[]> }>();
  const stopping = new AbortController();
  let inFlight = 0;

  /**
   * A tenant's endpoints as read after `receivedAt` (performance.now() when the event reached this
   * dispatcher): an endpoint registered before the event happened is in the answer. Reads that
   * started late enough are shared, so a burst costs one read per tenant, not one per event.
   */
  const endpointsOf = (ns: string, receivedAt: number) => {
    const hit = cache.get(ns);
    if (hit && hit.at >= receivedAt && performance.now() - hit.at < cacheMs) return hit.endpoints;
    const at = performance.now();
    const endpoints = options.endpoints.list(ns);
    cache.set(ns, { at, endpoints });
    endpoints.catch(() => cache.get(ns)?.endpoints === endpoints && cache.delete(ns));
    return endpoints;
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve, reject) => {
      if (stopping.signal.aborted) return reject(new DispatcherStopped());
      const timer = setTimeout(resolve, ms);
      stopping.signal.addEventListener('abort', () => (clearTimeout(timer), reject(new DispatcherStopped())), { once: true });
    });

  const deliverUntilDone = async (endpoint: WebhookEndpoint, event: WebhookEvent) => {
    const deadline = Date.parse(event.time) + retryPeriodMs;
    for (let attempt = 0; ; attempt++) {
      if (stopping.signal.aborted) throw new DispatcherStopped();
      const started = performance.now();
      const result = await deliver(endpoint, event, { policy: options.policy, ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }) });
      options.observer?.attempted?.(endpoint, event, result, performance.now() - started);
      if (result.ok) return;
      const delay = Math.random() * Math.min(cap, base * 2 ** Math.min(attempt, 30));
      if (Date.now() + delay > deadline) {
        options.observer?.gaveUp?.(endpoint, event, result.error);
        await options.endpoints.put({ ...endpoint, enabled: false }).catch(() => {});
        cache.delete(endpoint.ns);
        return;
      }
      await sleep(delay);
    }
  };

  /** A tenant's endpoints; waits out an unreachable store (a later event of the room must not overtake this one). */
  const reachableEndpointsOf = async (ns: string, receivedAt: number) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await endpointsOf(ns, receivedAt);
      } catch {
        await sleep(Math.random() * Math.min(cap, base * 2 ** Math.min(attempt, 30)));
      }
    }
  };

  const process = async (event: WebhookEvent, receivedAt: number) => {
    const targets = (await reachableEndpointsOf(event.tenant, receivedAt)).filter((endpoint) => wants(endpoint, event));
    await Promise.all(
      targets.map(async (endpoint) => {
        options.observer?.delivering?.(endpoint, event);
        try {
          await deliverUntilDone(endpoint, event);
        } finally {
          options.observer?.settled?.(endpoint, event);
        }
      }),
    );
  };

  return {
    handle(event) {
      const receivedAt = performance.now();
      const key = orderKey(event);
      const previous = chains.get(key) ?? Promise.resolve();
      inFlight++;
      options.observer?.backlog?.(inFlight);
      const mine = previous.catch(() => {}).then(() => process(event, receivedAt));
      const settled = mine.finally(() => {
        inFlight--;
        options.observer?.backlog?.(inFlight);
        if (chains.get(key) === tail) chains.delete(key);
      });
      const tail = settled.catch(() => {});
      chains.set(key, tail);
      return settled;
    },
    stop() {
      stopping.abort();
    },
  };
}
