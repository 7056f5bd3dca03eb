import { HEADER_MSG_ID, type Bus, type BusMessage, type BusSubscription } from '@parley/bus';
import { fromSubjectToken, subjects } from '@parley/protocol';
import { DEFAULT_HISTORY_RETENTION, HEADER_HISTORY_SEQ, type HistoryFollower, type HistoryListener, type HistoryStore, type HistoryTenant } from './history-store.ts';
import { TenantLog, type RoomLog } from './memory-log.ts';

export interface MemoryHistoryStoreOptions {
  /**
   * The process's bus. With it the store behaves like a JetStream stream on `chat.<ns>.*`: once a
   * tenant's log exists, plain bus publishes to its rooms (server-side publishes, tokens issued
   * before history was enabled) are stored too, and appended messages are also published on the
   * bus for plain subscribers.
   */
  bus?: Bus;
  /** @default 30000: how often idle tenants are swept for expired messages. */
  sweepIntervalMs?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

interface Follower {
  room: RoomLog;
  last: number;
  listener: HistoryListener;
  active: boolean;
}

/**
 * In-process history: the single-process default. Bounded by each tenant's retention (messages
 * per room, age, bytes per tenant); it does not scale beyond one process and is lost on restart.
 * Sequences, ordering, paging and the resume check behave as with JetStream (the resume check is
 * exact here). Followers are called from a batched `setImmediate`, never inside `append`.
 */
export function createMemoryHistoryStore(options: MemoryHistoryStoreOptions = {}): HistoryStore {
  const now = options.now ?? Date.now;
  const tenants = new Map<string, TenantLog>();
  const captures = new Map<string, BusSubscription>();
  const followers = new Map<RoomLog, Set<Follower>>();
  const dirty = new Set<RoomLog>();
  let scheduled = false;
  let closed = false;

  const tenantOf = (ns: string) => {
    let log = tenants.get(ns);
    if (!log) tenants.set(ns, (log = new TenantLog(ns, { ...DEFAULT_HISTORY_RETENTION }, 0)));
    return log;
  };

  const deliver = () => {
    scheduled = false;
    const rooms = [...dirty];
    dirty.clear();
    for (const room of rooms) {
      const log = tenants.get(room.ns);
      for (const f of followers.get(room) ?? []) {
        if (!f.active || !log) continue;
        for (const entry of log.liveAfter(room, f.last)) {
          if (!f.active) break;
          f.last = entry.seq;
          try {
            f.listener.message({ seq: entry.seq, data: entry.data });
          } catch {
            // a throwing listener must not starve the others
          }
        }
      }
    }
  };
  const markDirty = (room: RoomLog) => {
    dirty.add(room);
    if (!scheduled) {
      scheduled = true;
      setImmediate(deliver);
    }
  };

  const store = (ns: string, room: string, data: Uint8Array, msgId: string | undefined) => {
    const log = tenantOf(ns);
    const result = log.append(room, data, msgId, now());
    const roomLog = log.room(room);
    if (roomLog && !result.duplicate) markDirty(roomLog);
    return result;
  };

  const capture = (ns: string) => (message: BusMessage) => {
    if (message.headers[HEADER_HISTORY_SEQ] !== undefined) return;
    const token = message.subject.split('.')[2];
    if (token === undefined) return;
    store(ns, fromSubjectToken(token), message.data, undefined);
  };

  const sweep = setInterval(() => {
    const t = now();
    for (const log of tenants.values()) log.enforce(t);
  }, options.sweepIntervalMs ?? 30_000);
  sweep.unref();

  return {
    kind: 'memory',
    async ensure(tenant: HistoryTenant) {
      const log = tenants.get(tenant.ns);
      if (!log) tenants.set(tenant.ns, new TenantLog(tenant.ns, { ...tenant.retention }, tenant.version));
      else if (tenant.version >= log.version) {
        log.retention = { ...tenant.retention };
        log.version = tenant.version;
        log.enforce(now());
      }
      if (options.bus && !captures.has(tenant.ns) && !closed) captures.set(tenant.ns, options.bus.subscribe(`chat.${tenant.ns}.*`, capture(tenant.ns)));
    },
    async append(ns, room, data, { msgId, headers }) {
      const { seq, duplicate } = store(ns, room, data, msgId);
      if (options.bus && !duplicate) {
        options.bus.publish(subjects.room(ns, room), data, { ...headers, [HEADER_MSG_ID]: msgId, [HEADER_HISTORY_SEQ]: String(seq) }).catch(() => {});
      }
      return seq;
    },
    async latest(ns, room, limit) {
      const log = tenants.get(ns);
      log?.enforce(now());
      const roomLog = log?.room(room);
      if (!log || !roomLog) return { messages: [], more: false };
      const live = log.liveAfter(roomLog, 0);
      return { messages: live.slice(-limit).map(({ seq, data }) => ({ seq, data })), more: live.length > limit };
    },
    async before(ns, room, before, limit) {
      const log = tenants.get(ns);
      log?.enforce(now());
      const roomLog = log?.room(room);
      if (!log || !roomLog) return { messages: [], more: false };
      const older = log.liveAfter(roomLog, 0).filter((e) => e.seq < before);
      return { messages: older.slice(-limit).map(({ seq, data }) => ({ seq, data })), more: older.length > limit };
    },
    async after(ns, room, after, limit) {
      const log = tenants.get(ns);
      log?.enforce(now());
      const roomLog = log?.room(room);
      if (!log || !roomLog) return { messages: [], more: false };
      const live = log.liveAfter(roomLog, after);
      return { messages: live.slice(0, limit).map(({ seq, data }) => ({ seq, data })), more: live.length > limit };
    },
    async checkResume(ns, room, since) {
      const log = tenants.get(ns);
      if (!log) return { gap: since > 0, pending: 0, last: 0 };
      log.enforce(now());
      const roomLog = log.room(room);
      const droppedUpTo = roomLog ? roomLog.droppedUpTo : log.forgottenUpTo;
      const pending = roomLog ? log.liveAfter(roomLog, since).length : 0;
      return { gap: since > log.seq || droppedUpTo > since, pending, last: log.seq };
    },
    async delete(ns, room, seq) {
      return tenants.get(ns)?.delete(room, seq) ?? false;
    },
    async position(ns) {
      return tenants.get(ns)?.seq ?? 0;
    },
    async follow(ns, room, after, listener): Promise<HistoryFollower> {
      const roomLog = tenantOf(ns).room(room, true);
      roomLog.followers++;
      const follower: Follower = { room: roomLog, last: after, listener, active: true };
      let set = followers.get(roomLog);
      if (!set) followers.set(roomLog, (set = new Set()));
      set.add(follower);
      markDirty(roomLog);
      return {
        stop() {
          if (!follower.active) return;
          follower.active = false;
          set.delete(follower);
          if (set.size === 0) followers.delete(roomLog);
          roomLog.followers--;
          tenants.get(ns)?.maybeForget(roomLog);
        },
      };
    },
    health() {
      return { ok: true };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweep);
      for (const sub of captures.values()) sub.unsubscribe();
      captures.clear();
      const error = new Error('history store closed');
      for (const set of followers.values()) {
        for (const f of set) {
          f.active = false;
          f.listener.error(error);
        }
      }
      followers.clear();
    },
  };
}
