import type { AuditEntry } from '@parley/moderation';
import type { RoomSettings } from '@parley/protocol';
import type { AdminClient } from './admin-client.ts';
import { renderFields, renderTable } from './table.ts';

export const MODERATION_USAGE = `Moderation (as the tenant's backend: audited as $server; members are told)
  rooms moderation <ns> <room>       show a room's settings, bans, mutes, invites and roles
  rooms settings <ns> <room> [--invite-only true|false] [--read-only true|false] [--slow-mode <seconds>] [--max-members <n>]
                                     change a room's settings (slow mode and max members: 0 = off)
  rooms kick <ns> <room> <user> [--reason <text>]
                                     remove a user from a room on every gateway
  rooms ban <ns> <room> <user> [--seconds <n>] [--reason <text>]
                                     ban for a time, or until unbanned
  rooms unban <ns> <room> <user>
  rooms mute <ns> <room> <user> [--seconds <n>] [--reason <text>]
  rooms unmute <ns> <room> <user>
  rooms invite <ns> <room> <user>    invite to an invite-only room
  rooms uninvite <ns> <room> <user>
  rooms role <ns> <room> <user> owner|moderator|none
  rooms delete-message <ns> <room> --seq <n> | --msg-id <id> [--reason <text>]
                                     delete a stored message (--seq, tenants with history) or tell members to drop one
  audit <ns> [--after <id>] [--limit <n>]
                                     the tenant's moderation audit log, oldest first
`;

export const MODERATION_OPTIONS = {
  seconds: { type: 'string' },
  reason: { type: 'string' },
  'invite-only': { type: 'string' },
  'read-only': { type: 'string' },
  'slow-mode': { type: 'string' },
  'max-members': { type: 'string' },
  seq: { type: 'string' },
  'msg-id': { type: 'string' },
  after: { type: 'string' },
  limit: { type: 'string' },
} as const;

type ModerationValues = { [K in keyof typeof MODERATION_OPTIONS]?: string | undefined } & { json?: boolean | undefined };

export interface ModerationCommand {
  /** The words after `rooms` (`ban`, `acme`, `lobby`, `mallory`), or after `audit`. */
  words: string[];
  values: ModerationValues;
  client(): AdminClient;
  out(data: unknown, human: () => string): void;
  /** Throws the CLI's usage error. */
  usage(message: string): never;
}

type Entry = { entry: AuditEntry };
const ROLES = ['owner', 'moderator', 'none'] as const;

/** `rooms …` moderation commands, through the operator's routes under `/v1/admin/tenants/{ns}`. False when `command` is none of them. */
export async function runRoomsCommand(command: string | undefined, cmd: ModerationCommand): Promise<boolean> {
  const { values, usage } = cmd;
  const args = (names: string[]) => {
    if (cmd.words.length !== names.length) usage(`rooms ${command} takes ${names.map((n) => `<${n}>`).join(' ')}`);
    return cmd.words;
  };
  const whole = (name: keyof typeof MODERATION_OPTIONS, min: number) => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isSafeInteger(n) || n < min) usage(`--${name} takes a whole number of at least ${min}, not "${raw}"`);
    return n;
  };
  const flag = (name: 'invite-only' | 'read-only') => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    if (raw !== 'true' && raw !== 'false') usage(`--${name} takes true or false, not "${raw}"`);
    return raw === 'true';
  };
  const room = (ns: string, name: string) => `/v1/admin/tenants/${encodeURIComponent(ns)}/rooms/${encodeURIComponent(name)}`;
  const done = (entry: AuditEntry, text: string) => cmd.out({ entry }, () => `${text} (audit entry ${entry.id}).\n`);
  const reason = values.reason !== undefined ? { reason: values.reason } : {};

  switch (command) {
    case 'moderation': {
      const [ns, name] = args(['ns', 'room']) as [string, string];
      const state = await cmd.client().request<RoomState>('GET', `${room(ns, name)}/moderation`);
      cmd.out(state, () => renderRoom(state));
      return true;
    }
    case 'settings': {
      const [ns, name] = args(['ns', 'room']) as [string, string];
      const patch: Partial<RoomSettings> = {};
      const inviteOnly = flag('invite-only');
      const readOnly = flag('read-only');
      const slowMode = whole('slow-mode', 0);
      const maxMembers = whole('max-members', 0);
      if (inviteOnly !== undefined) patch.inviteOnly = inviteOnly;
      if (readOnly !== undefined) patch.readOnly = readOnly;
      if (slowMode !== undefined) patch.slowModeSeconds = slowMode;
      if (maxMembers !== undefined) patch.maxMembers = maxMembers;
      if (Object.keys(patch).length === 0) usage('rooms settings needs --invite-only, --read-only, --slow-mode or --max-members (rooms moderation shows them)');
      const { settings, entry } = await cmd.client().request<{ settings: RoomSettings; entry: AuditEntry }>('PATCH', `${room(ns, name)}/settings`, patch);
      cmd.out({ settings, entry }, () => `Updated the settings of room ${name} of tenant ${ns}.\n${renderSettings(settings)}`);
      return true;
    }
    case 'kick': {
      const [ns, name, user] = args(['ns', 'room', 'user']) as [string, string, string];
      const { entry } = await cmd.client().request<{ entry?: AuditEntry }>('POST', `${room(ns, name)}/kick`, { user, ...reason });
      cmd.out({ entry }, () => `Kicked ${user} from room ${name} of tenant ${ns}${entry ? ` (audit entry ${entry.id})` : ''}.\n`);
      return true;
    }
    case 'ban':
    case 'mute': {
      const [ns, name, user] = args(['ns', 'room', 'user']) as [string, string, string];
      const seconds = whole('seconds', 1);
      const { entry } = await cmd.client().request<Entry>('POST', `${room(ns, name)}/${command}s`, { user, ...(seconds !== undefined && { seconds }), ...reason });
      done(entry, `${command === 'ban' ? 'Banned' : 'Muted'} ${user} in room ${name} of tenant ${ns} ${seconds === undefined ? 'until lifted' : `for ${seconds}s`}`);
      return true;
    }
    case 'unban':
    case 'unmute': {
      const [ns, name, user] = args(['ns', 'room', 'user']) as [string, string, string];
      const { entry } = await cmd.client().request<Entry>('DELETE', `${room(ns, name)}/${command.slice(2)}s/${encodeURIComponent(user)}`);
      done(entry, `Lifted the ${command.slice(2)} of ${user} in room ${name} of tenant ${ns}`);
      return true;
    }
    case 'invite':
    case 'uninvite': {
      const [ns, name, user] = args(['ns', 'room', 'user']) as [string, string, string];
      const { entry } = await cmd.client().request<Entry>(command === 'invite' ? 'PUT' : 'DELETE', `${room(ns, name)}/invites/${encodeURIComponent(user)}`);
      done(entry, command === 'invite' ? `Invited ${user} to room ${name} of tenant ${ns}` : `Withdrew the invitation of ${user} to room ${name} of tenant ${ns}`);
      return true;
    }
    case 'role': {
      const [ns, name, user, role] = args(['ns', 'room', 'user', 'owner|moderator|none']) as [string, string, string, string];
      if (!(ROLES as readonly string[]).includes(role)) usage(`rooms role takes owner, moderator or none, not "${role}"`);
      const path = `${room(ns, name)}/roles/${encodeURIComponent(user)}`;
      const { entry } = await (role === 'none' ? cmd.client().request<Entry>('DELETE', path) : cmd.client().request<Entry>('PUT', path, { role }));
      done(entry, role === 'none' ? `${user} has no role in room ${name} of tenant ${ns} now` : `${user} is ${role} of room ${name} of tenant ${ns}`);
      return true;
    }
    case 'delete-message': {
      const [ns, name] = args(['ns', 'room']) as [string, string];
      const seq = whole('seq', 1);
      if ((seq === undefined) === (values['msg-id'] === undefined)) usage('rooms delete-message takes --seq <n> or --msg-id <id>');
      const { entry } = await cmd.client().request<Entry>('POST', `${room(ns, name)}/messages/delete`, { ...(seq !== undefined ? { seq } : { msgId: values['msg-id'] }), ...reason });
      done(entry, `Deleted message ${seq !== undefined ? `seq ${seq}` : values['msg-id']} in room ${name} of tenant ${ns}`);
      return true;
    }
    default:
      return false;
  }
}

/** `audit <ns> [--after <id>] [--limit <n>]`. */
export async function runAuditCommand(cmd: ModerationCommand): Promise<void> {
  if (cmd.words.length !== 1) cmd.usage('audit takes <ns>');
  const [ns] = cmd.words as [string];
  const query = new URLSearchParams({ ...(cmd.values.after !== undefined && { after: cmd.values.after }), ...(cmd.values.limit !== undefined && { limit: cmd.values.limit }) });
  const page = await cmd.client().request<{ entries: AuditEntry[]; next?: string }>('GET', `/v1/admin/tenants/${encodeURIComponent(ns)}/moderation/audit${query.size > 0 ? `?${query}` : ''}`);
  cmd.out(page, () =>
    page.entries.length === 0
      ? `Tenant ${ns} has no audit entries${cmd.values.after ? ` after ${cmd.values.after}` : ''}.\n`
      : renderTable(
          ['id', 'time', 'room', 'action', 'actor', 'target', 'reason', 'details'],
          page.entries.map((e) => [e.id, new Date(e.ts).toISOString(), e.room, e.action, e.actor, e.target ?? '', e.reason ?? '', e.details ? JSON.stringify(e.details) : '']),
        ) + (page.next ? `More: audit ${ns} --after ${page.next}\n` : ''),
  );
}

interface RoomState {
  settings: RoomSettings;
  bans: Array<{ user: string; until: number | null }>;
  mutes: Array<{ user: string; until: number | null }>;
  invites: string[];
  roles: Array<{ user: string; role: string }>;
}

const untilText = (until: number | null) => (until === null ? 'until lifted' : `until ${new Date(until).toISOString()}`);
const listed = (items: string[]) => (items.length === 0 ? 'none' : items.join(', '));

const settingsFields = (s: RoomSettings): Array<[string, string]> => [
  ['invite only', s.inviteOnly ? 'yes' : 'no'],
  ['read only', s.readOnly ? 'yes' : 'no'],
  ['slow mode', s.slowModeSeconds === 0 ? 'off' : `${s.slowModeSeconds}s`],
  ['max members', s.maxMembers === 0 ? 'no limit' : String(s.maxMembers)],
];

const renderSettings = (s: RoomSettings) => renderFields(settingsFields(s));

function renderRoom(state: RoomState): string {
  return renderFields([
    ...settingsFields(state.settings),
    ['bans', listed(state.bans.map((b) => `${b.user} (${untilText(b.until)})`))],
    ['mutes', listed(state.mutes.map((m) => `${m.user} (${untilText(m.until)})`))],
    ['invites', listed(state.invites)],
    ['roles', listed(state.roles.map((r) => `${r.user} (${r.role})`))],
  ]);
}
