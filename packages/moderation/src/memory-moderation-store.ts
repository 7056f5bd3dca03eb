import { DEFAULT_ROOM_SETTINGS } from '@parley/protocol';
import { DEFAULT_AUDIT_ENTRIES_PER_TENANT, applyModerationChange, emptyRoomModeration, inForce, type AuditEntry, type ModerationChange, type ModerationStore, type RoomModeration, type RoomRole, type Until } from './moderation-store.ts';

/** The state a memory store holds, as JSON (what the file store writes). */
export interface ModerationSnapshot {
  rooms: Record<string, Record<string, { settings?: Partial<RoomModeration['settings']>; bans?: Record<string, Until>; mutes?: Record<string, Until>; invites?: string[]; roles?: Record<string, RoomRole> }>>;
  audit: Record<string, { next: number; entries: AuditEntry[] }>;
}

export interface MemoryModerationStoreOptions {
  auditEntriesPerTenant?: number;
  now?: () => number;
  initial?: ModerationSnapshot;
  /** Called after every change, with the state to keep (the file store writes it). */
  changed?: (snapshot: () => ModerationSnapshot) => Promise<void>;
  kind?: 'memory' | 'file';
}

/** Moderation in one process's memory. */
export function createMemoryModerationStore(options: MemoryModerationStoreOptions = {}): ModerationStore {
  const now = options.now ?? Date.now;
  const maxAudit = options.auditEntriesPerTenant ?? DEFAULT_AUDIT_ENTRIES_PER_TENANT;
  const rooms = new Map<string, Map<string, RoomModeration>>();
  const audits = new Map<string, { next: number; entries: AuditEntry[] }>();

  for (const [ns, byRoom] of Object.entries(options.initial?.rooms ?? {})) {
    for (const [room, saved] of Object.entries(byRoom)) {
      const state = emptyRoomModeration({ ...DEFAULT_ROOM_SETTINGS, ...saved.settings });
      for (const [user, until] of Object.entries(saved.bans ?? {})) state.bans.set(user, until);
      for (const [user, until] of Object.entries(saved.mutes ?? {})) state.mutes.set(user, until);
      for (const user of saved.invites ?? []) state.invites.add(user);
      for (const [user, role] of Object.entries(saved.roles ?? {})) state.roles.set(user, role);
      roomsOf(ns).set(room, state);
    }
  }
  for (const [ns, log] of Object.entries(options.initial?.audit ?? {})) audits.set(ns, { next: log.next, entries: [...log.entries] });

  function roomsOf(ns: string) {
    let byRoom = rooms.get(ns);
    if (!byRoom) rooms.set(ns, (byRoom = new Map()));
    return byRoom;
  }

  const snapshot = (): ModerationSnapshot => {
    const t = now();
    const out: ModerationSnapshot = { rooms: {}, audit: {} };
    for (const [ns, byRoom] of rooms) {
      const saved: ModerationSnapshot['rooms'][string] = (out.rooms[ns] = {});
      for (const [room, state] of byRoom) {
        saved[room] = {
          settings: state.settings,
          bans: Object.fromEntries([...state.bans].filter(([, until]) => inForce(until, t))),
          mutes: Object.fromEntries([...state.mutes].filter(([, until]) => inForce(until, t))),
          invites: [...state.invites],
          roles: Object.fromEntries(state.roles),
        };
      }
    }
    for (const [ns, log] of audits) out.audit[ns] = log;
    return out;
  };
  const changed = () => options.changed?.(snapshot) ?? Promise.resolve();

  const copy = (state: RoomModeration): RoomModeration => {
    const t = now();
    const live = (map: Map<string, Until>) => new Map([...map].filter(([, until]) => inForce(until, t)));
    return { settings: { ...state.settings }, bans: live(state.bans), mutes: live(state.mutes), invites: new Set(state.invites), roles: new Map(state.roles) };
  };

  return {
    kind: options.kind ?? 'memory',
    async room(ns, room) {
      const state = rooms.get(ns)?.get(room);
      return state ? copy(state) : emptyRoomModeration(DEFAULT_ROOM_SETTINGS);
    },
    async apply(ns, room, change: ModerationChange) {
      const byRoom = roomsOf(ns);
      let state = byRoom.get(room);
      if (!state) byRoom.set(room, (state = emptyRoomModeration(DEFAULT_ROOM_SETTINGS)));
      applyModerationChange(state, change);
      await changed();
    },
    async record(ns, entry) {
      let log = audits.get(ns);
      if (!log) audits.set(ns, (log = { next: 1, entries: [] }));
      const recorded: AuditEntry = { id: String(log.next++).padStart(12, '0'), ...entry };
      log.entries.push(recorded);
      if (log.entries.length > maxAudit) log.entries.splice(0, log.entries.length - maxAudit);
      await changed();
      return recorded;
    },
    async audit(ns, { after, limit }) {
      const entries = audits.get(ns)?.entries ?? [];
      const from = after === undefined ? 0 : entries.findIndex((e) => e.id > after);
      return from < 0 ? [] : entries.slice(from, from + limit);
    },
    async close() {},
  };
}
