import { ParleyError } from '@parley/protocol';
import type { Logger } from 'pino';
import { subjectMatches, type Bus, type BusHandler, type BusHeaders, type BusMessage, type BusState, type BusSubscription } from './bus.ts';

interface Sub {
  subject: string;
  wildcard: boolean;
  handler: BusHandler;
  active: boolean;
}

/**
 * In-process bus: the single-process default. It does not scale beyond one process; every
 * `createMemoryBus` call is its own bus, so share one instance between the services of a process.
 * Delivery is deferred to a batched `setImmediate` (never inside the publisher's call stack), as
 * with NATS, so a burst of publishes from a socket handler cannot starve the event loop.
 */
export function createMemoryBus(options: { logger?: Logger } = {}): Bus & { disconnectForTest(down: boolean): void } {
  const exact = new Map<string, Set<Sub>>();
  const wildcards = new Set<Sub>();
  const queue: BusMessage[] = [];
  const listeners = new Set<(state: BusState) => void>();
  let scheduled = false;
  let state: BusState = 'connected';

  const setState = (next: BusState) => {
    if (state === next) return;
    state = next;
    for (const l of listeners) l(next);
  };

  const deliver = (sub: Sub, message: BusMessage) => {
    try {
      sub.handler(message);
    } catch (err) {
      // One failing handler must not lose the rest of the batch or crash the process.
      options.logger?.error({ err, subject: sub.subject }, 'bus handler threw');
    }
  };

  const drain = () => {
    scheduled = false;
    const batch = queue.splice(0, queue.length);
    for (const message of batch) {
      const subs = exact.get(message.subject);
      if (subs) for (const sub of subs) if (sub.active) deliver(sub, message);
      for (const sub of wildcards) if (sub.active && subjectMatches(sub.subject, message.subject)) deliver(sub, message);
    }
  };

  return {
    get state() {
      return state;
    },
    publish(subject: string, data: Uint8Array, headers: BusHeaders = {}) {
      if (state !== 'connected') return Promise.reject(new ParleyError('unavailable'));
      queue.push({ subject, data, headers });
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
      return Promise.resolve();
    },
    subscribe(subject: string, handler: BusHandler): BusSubscription {
      const sub: Sub = { subject, wildcard: subject.includes('*') || subject.includes('>'), handler, active: true };
      if (sub.wildcard) wildcards.add(sub);
      else {
        let set = exact.get(subject);
        if (!set) exact.set(subject, (set = new Set()));
        set.add(sub);
      }
      return {
        subject,
        unsubscribe() {
          if (!sub.active) return;
          sub.active = false;
          if (sub.wildcard) wildcards.delete(sub);
          else {
            const set = exact.get(subject);
            set?.delete(sub);
            if (set?.size === 0) exact.delete(subject);
          }
        },
      };
    },
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    flush() {
      return state === 'connected' ? Promise.resolve() : Promise.reject(new ParleyError('unavailable'));
    },
    subscriptionCount() {
      let n = wildcards.size;
      for (const set of exact.values()) n += set.size;
      return n;
    },
    async close() {
      drain();
      setState('closed');
    },
    /** Simulates a bus outage (tests): publishes fail while down. */
    disconnectForTest(down: boolean) {
      setState(down ? 'reconnecting' : 'connected');
    },
  };
}
