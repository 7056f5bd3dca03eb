import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

export const LEASE_BUCKET = 'PARLEY_WEBHOOK_LEASE';
const LEASE_KEY = 'dispatcher';
/** @default 10 s: a lease not renewed for this long lapses (JetStream drops the key). */
export const DEFAULT_LEASE_TTL_MS = 10_000;
/** @default 2 s */
export const DEFAULT_LEASE_RENEW_MS = 2_000;

export interface DispatchLeaseOptions {
  ttlMs?: number;
  renewMs?: number;
  replicas?: number;
  /** Called when this replica starts or stops being the one that delivers. */
  onChange?: (leading: boolean) => void;
}

export interface DispatchLease {
  readonly leading: boolean;
  /**
   * Competes for the lease until stopped: `lead` runs when this replica takes it, `follow` when it
   * loses it (a renewal failed: another replica may take over once the lease lapses, so `follow`
   * must stop delivering at once). Resolves after the first attempt.
   */
  start(lead: () => Promise<void>, follow: () => Promise<void>): Promise<void>;
  /** Stops competing; a held lease is released so a standby takes over at once. */
  stop(): Promise<void>;
}

/**
 * One dispatcher replica delivers at a time, so one room's events are delivered in order however
 * many replicas run; the others stand by and take over within the lease's ttl when it dies (at
 * once when it stops). The lease is a key in a JetStream key-value bucket whose entries expire
 * after `ttlMs`: created only when absent, renewed with compare-and-set every `renewMs`. A
 * replica restarted under the same id takes its own lease back at once.
 */
export async function createDispatchLease(nc: NatsConnection, id: string, options: DispatchLeaseOptions = {}): Promise<DispatchLease> {
  const ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const renewMs = options.renewMs ?? DEFAULT_LEASE_RENEW_MS;
  const kv: KV = await new Kvm(nc).create(LEASE_BUCKET, { history: 1, ttl: ttlMs, replicas: options.replicas ?? 1 });
  let revision = 0;
  let leading = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let turn: Promise<void> = Promise.resolve();
  let lead: () => Promise<void> = async () => {};
  let follow: () => Promise<void> = async () => {};

  const become = async (next: boolean) => {
    if (leading === next) return;
    leading = next;
    options.onChange?.(next);
    await (next ? lead() : follow());
  };

  const attempt = async () => {
    if (leading) {
      try {
        revision = await kv.update(LEASE_KEY, id, revision);
      } catch {
        revision = 0;
        await become(false);
      }
      return;
    }
    try {
      const entry = await kv.get(LEASE_KEY);
      if (!entry || entry.operation !== 'PUT') revision = await kv.create(LEASE_KEY, id);
      else if (entry.string() === id) revision = await kv.update(LEASE_KEY, id, entry.revision);
      else return;
    } catch {
      return; // another replica holds it, or NATS is unreachable: try again next time
    }
    await become(true);
  };

  const schedule = () => {
    if (!stopped) timer = setTimeout(() => void (turn = attempt().finally(schedule)), renewMs);
  };

  return {
    get leading() {
      return leading;
    },
    async start(leadFn, followFn) {
      lead = leadFn;
      follow = followFn;
      await (turn = attempt());
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await turn.catch(() => {});
      if (!leading) return;
      await become(false);
      await kv.delete(LEASE_KEY, { previousSeq: revision }).catch(() => {});
    },
  };
}
