import { createHash } from 'node:crypto';

/** How long a publish id is remembered; JetStream's duplicate window for history tenants is the same. */
export const PUBLISH_DEDUPE_WINDOW_MS = 120_000;
/** Publish ids remembered per tenant on one gateway (tenants without history); the oldest go first. */
export const PUBLISH_DEDUPE_MAX_PER_TENANT = 10_000;

/**
 * The message id of a publish that carries a client publish id (`pid`): the same for a repeat
 * of it on any gateway, different between users (no one can pre-empt another user's id). For
 * history tenants it is JetStream's `Nats-Msg-Id`, so the store drops the repeat; for the others
 * receivers can drop a repeated `msgId`.
 */
export function publishMsgId(user: string, pid: string): string {
  return createHash('sha256').update(user).update('\u0000').update(pid).digest('base64url').slice(0, 22);
}

export interface PublishDedupeObserver {
  duplicate(ns: string): void;
  evicted(ns: string): void;
}

/**
 * Publish ids seen recently, per tenant, for tenants without history: a resend after a lost ack
 * that reaches the same gateway within the window is acknowledged without publishing again.
 * Bounded per tenant (oldest first), so a flood of ids costs at most a fixed amount of memory.
 */
export class PublishDedupe {
  private readonly tenants = new Map<string, Map<string, number>>();
  private readonly observer: PublishDedupeObserver;
  private readonly windowMs: number;
  private readonly maxPerTenant: number;

  constructor(observer: PublishDedupeObserver, windowMs = PUBLISH_DEDUPE_WINDOW_MS, maxPerTenant = PUBLISH_DEDUPE_MAX_PER_TENANT) {
    this.observer = observer;
    this.windowMs = windowMs;
    this.maxPerTenant = maxPerTenant;
  }

  /** True when `msgId` was recorded within the window (a repeat); otherwise records it. */
  seen(ns: string, msgId: string, now = Date.now()): boolean {
    let ids = this.tenants.get(ns);
    if (!ids) this.tenants.set(ns, (ids = new Map()));
    for (const [id, at] of ids) {
      if (at > now - this.windowMs && ids.size < this.maxPerTenant) break;
      ids.delete(id);
      if (at > now - this.windowMs) this.observer.evicted(ns);
    }
    const at = ids.get(msgId);
    if (at !== undefined && at > now - this.windowMs) {
      this.observer.duplicate(ns);
      return true;
    }
    ids.set(msgId, now);
    return false;
  }

  /** The publish failed: a resend must go through. */
  forget(ns: string, msgId: string): void {
    const ids = this.tenants.get(ns);
    ids?.delete(msgId);
    if (ids?.size === 0) this.tenants.delete(ns);
  }

  /** Ids remembered (all tenants). */
  get size(): number {
    let n = 0;
    for (const ids of this.tenants.values()) n += ids.size;
    return n;
  }
}
