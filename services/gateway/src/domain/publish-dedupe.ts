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
  private readonly tenants = new Map<string, TenantIds>();
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
    let tenant = this.tenants.get(ns);
    if (!tenant) this.tenants.set(ns, (tenant = new TenantIds()));
    const oldest = now - this.windowMs;
    tenant.expire(oldest, this.maxPerTenant, () => this.observer.evicted(ns));
    const at = tenant.ids.get(msgId);
    if (at !== undefined && at > oldest) {
      this.observer.duplicate(ns);
      return true;
    }
    tenant.add(msgId, now);
    return false;
  }

  /** The publish failed: a resend must go through. */
  forget(ns: string, msgId: string): void {
    this.tenants.get(ns)?.ids.delete(msgId);
  }

  /** Ids remembered (all tenants). */
  get size(): number {
    let n = 0;
    for (const tenant of this.tenants.values()) n += tenant.ids.size;
    return n;
  }
}

/**
 * One tenant's ids: a map for lookups and an insertion-ordered queue for expiry. (Expiring from
 * the front of a `Map` instead costs a walk over the deleted entries V8 keeps until it rehashes.)
 */
class TenantIds {
  readonly ids = new Map<string, number>();
  private queueIds: string[] = [];
  private queueAt: number[] = [];
  private head = 0;

  add(id: string, at: number): void {
    this.ids.set(id, at);
    this.queueIds.push(id);
    this.queueAt.push(at);
  }

  /** Drops ids older than `oldest`, and the oldest while there are `max` or more (`evicted` for those). */
  expire(oldest: number, max: number, evicted: () => void): void {
    while (this.head < this.queueIds.length) {
      const id = this.queueIds[this.head] as string;
      const at = this.queueAt[this.head] as number;
      const live = this.ids.get(id) === at; // otherwise forgotten, or recorded again later
      if (live && at > oldest && this.ids.size < max) break;
      this.head++;
      if (!live) continue;
      this.ids.delete(id);
      if (at > oldest) evicted();
    }
    if (this.head > 1024 && this.head * 2 > this.queueIds.length) {
      this.queueIds = this.queueIds.slice(this.head);
      this.queueAt = this.queueAt.slice(this.head);
      this.head = 0;
    }
  }
}
