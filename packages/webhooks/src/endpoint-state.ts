import type { WebhookEndpoint } from './endpoint.ts';
import type { DispatcherObserver } from './dispatcher.ts';
import type { DeliveryResult } from './delivery.ts';
import type { WebhookEvent } from './events.ts';

/** What one dispatcher has seen of one endpoint. Times are ISO 8601 (UTC). */
export interface DispatcherEndpointState {
  lastSuccessAt?: string;
  lastFailureAt?: string;
  /** Why the last failed attempt failed (`HTTP 500`, `timeout`, …); never a response body. */
  lastError?: string;
  /** Events this dispatcher is delivering or retrying to the endpoint (later events of those rooms wait behind them). */
  pending: number;
  /** When the dispatcher wrote this; the `pending` of a dispatcher silent for long no longer counts. */
  updatedAt: string;
}

/** An endpoint's delivery state across every dispatcher, as the API shows it. */
export interface EndpointState {
  lastSuccessAt?: string;
  lastFailureAt?: string;
  lastError?: string;
  pending: number;
}

/**
 * Where dispatchers report what they saw of each endpoint, one record per dispatcher (memory in one
 * process, a JetStream key-value bucket in a cluster), and where auth reads it back merged.
 */
export interface EndpointStateStore {
  report(ns: string, id: string, dispatcher: string, state: DispatcherEndpointState): Promise<void>;
  read(ns: string, id: string): Promise<EndpointState>;
  /** Drops every dispatcher's record of a removed endpoint. */
  forget(ns: string, id: string): Promise<void>;
  close(): Promise<void>;
}

/** @default 2 min: a dispatcher refreshes its records with pending events every 30 s. */
export const STATE_STALE_MS = 120_000;

/** The latest of each kind of outcome; pending summed over the dispatchers still reporting. */
export function mergeEndpointStates(states: readonly DispatcherEndpointState[], now = Date.now()): EndpointState {
  const merged: EndpointState = { pending: 0 };
  for (const s of states) {
    if (s.lastSuccessAt && (!merged.lastSuccessAt || s.lastSuccessAt > merged.lastSuccessAt)) merged.lastSuccessAt = s.lastSuccessAt;
    if (s.lastFailureAt && (!merged.lastFailureAt || s.lastFailureAt > merged.lastFailureAt)) {
      merged.lastFailureAt = s.lastFailureAt;
      if (s.lastError !== undefined) merged.lastError = s.lastError;
    }
    if (now - Date.parse(s.updatedAt) < STATE_STALE_MS) merged.pending += s.pending;
  }
  return merged;
}

export function createMemoryEndpointStateStore(): EndpointStateStore {
  const records = new Map<string, Map<string, DispatcherEndpointState>>();
  const key = (ns: string, id: string) => `${ns}.${id}`;
  return {
    async report(ns, id, dispatcher, state) {
      const of = records.get(key(ns, id)) ?? new Map<string, DispatcherEndpointState>();
      of.set(dispatcher, { ...state });
      records.set(key(ns, id), of);
    },
    async read(ns, id) {
      return mergeEndpointStates([...(records.get(key(ns, id))?.values() ?? [])]);
    },
    async forget(ns, id) {
      records.delete(key(ns, id));
    },
    async close() {},
  };
}

export interface StateReporterOptions {
  /** How often changed records are written. @default 1000 ms */
  flushMs?: number;
  /** Records with pending events are rewritten at least this often. @default 30 s */
  refreshMs?: number;
  /** A write failed (the store is unreachable): the record stays changed and is written next time. */
  onError?: (error: unknown) => void;
}

/**
 * A dispatcher observer that keeps, per endpoint, the last success, the last failure and the events
 * in delivery, and writes the changed records to the state store about once a second (never once
 * per delivery: a busy endpoint costs one write a second, not thousands).
 */
export function createStateReporter(store: EndpointStateStore, dispatcher: string, options: StateReporterOptions = {}): DispatcherObserver & { stop(): Promise<void> } {
  const flushMs = options.flushMs ?? 1000;
  const refreshMs = options.refreshMs ?? 30_000;
  const records = new Map<string, { ns: string; id: string; state: DispatcherEndpointState; dirty: boolean; writtenAt: number }>();
  const recordOf = (endpoint: WebhookEndpoint) => {
    const k = `${endpoint.ns}.${endpoint.id}`;
    let record = records.get(k);
    if (!record) records.set(k, (record = { ns: endpoint.ns, id: endpoint.id, state: { pending: 0, updatedAt: '' }, dirty: true, writtenAt: 0 }));
    record.dirty = true;
    return record.state;
  };
  let flushing: Promise<void> | undefined;
  const flush = async () => {
    const now = Date.now();
    const due = [...records.values()].filter((r) => r.dirty || (r.state.pending > 0 && now - r.writtenAt >= refreshMs));
    await Promise.all(
      due.map(async (r) => {
        r.dirty = false;
        r.state.updatedAt = new Date(now).toISOString();
        try {
          await store.report(r.ns, r.id, dispatcher, r.state);
          r.writtenAt = now;
        } catch (error) {
          r.dirty = true;
          options.onError?.(error);
        }
      }),
    );
  };
  const timer = setInterval(() => void (flushing ??= flush().finally(() => (flushing = undefined))), flushMs);
  timer.unref();
  return {
    delivering(endpoint: WebhookEndpoint) {
      recordOf(endpoint).pending++;
    },
    settled(endpoint: WebhookEndpoint) {
      const state = recordOf(endpoint);
      state.pending = Math.max(0, state.pending - 1);
    },
    attempted(endpoint: WebhookEndpoint, _event: WebhookEvent, result: DeliveryResult) {
      const state = recordOf(endpoint);
      const at = new Date().toISOString();
      if (result.ok) state.lastSuccessAt = at;
      else {
        state.lastFailureAt = at;
        state.lastError = result.error;
      }
    },
    async stop() {
      clearInterval(timer);
      await flushing;
      await flush();
    },
  };
}
