import { parseArgs } from 'node:util';
import { readConfig, z } from '@parley/config';
import { generateSigningKeyJwk, writeSigningKeyFile, type SigningAlgorithm } from '../keys/signing-keys.ts';
import { showsModerators, type TenantSettings, type TenantSettingsPatch } from '../settings.ts';
import { WEBHOOK_EVENT_TYPES, type EndpointState, type WebhookEndpoint } from '@parley/webhooks';
import type { Tenant } from '../store/tenant-store.ts';
import { AdminApiError, createAdminClient, type AdminClient } from './admin-client.ts';
import { MODERATION_OPTIONS, MODERATION_USAGE, runAuditCommand, runRoomsCommand, type ModerationCommand } from './moderation-commands.ts';
import { renderFields, renderTable } from './table.ts';

export const EXIT_OK = 0;
export const EXIT_API_ERROR = 1;
export const EXIT_USAGE = 2;
export const DEFAULT_AUTH_URL = 'http://127.0.0.1:8081';

export const USAGE = `Usage: parley-admin [--json] <command>

Tenants
  tenants create <ns> [settings]     create a tenant (settings not given take their defaults)
  tenants list                       list tenants
  tenants get <ns>                   show a tenant
  tenants update <ns> [settings]     change some settings
  tenants delete <ns>                delete a tenant and its API keys

API keys
  keys create <ns>                   create a key; it is printed once, store it now
  keys list <ns>                     list keys (id, prefix, creation time)
  keys revoke <ns> <keyId>           revoke a key at once

Webhook endpoints
  webhooks create <ns> --endpoint <url> --events <a,b> [--rooms <pattern>] [--disabled]
                                     register an endpoint; its signing secret is printed once
  webhooks list <ns>                 list endpoints (without secrets)
  webhooks get <ns> <id>             show an endpoint and its delivery state
  webhooks update <ns> <id> [--endpoint <url>] [--events <a,b>] [--rooms <pattern>|--rooms ''] [--enabled|--no-enabled]
                                     change an endpoint ('' rooms: every room; --enabled turns it back on)
  webhooks delete <ns> <id>          remove an endpoint
  (events: ${WEBHOOK_EVENT_TYPES.join(', ')})

${MODERATION_USAGE}
Signing keys (local files, no API call)
  signing-key generate <kid> --dir <folder> [--alg ES256|EdDSA]
                                     write <folder>/<kid>.private.jwk.json (mode 0600)

Settings
  --allowed-origins <a,b>            allowed browser Origins ('' = any)
  --max-connections <n>  --max-frame-bytes <n>  --messages-per-second <n>  --burst <n>
  --max-rooms <n>  --max-token-ttl <seconds>
  --history | --no-history  --history-max-age <seconds>  --history-max-messages <n>  --history-max-bytes <n>
  --compression | --no-compression   WebSocket compression (gateways with PARLEY_WS_COMPRESSION=tenant)
  --show-moderators | --no-show-moderators
                                     moderation events name the moderator and the reason (default on)

Options
  --json                             print the API's JSON instead of tables
  --url <url>                        the auth service (default: PARLEY_AUTH_URL or ${DEFAULT_AUTH_URL})
  -h, --help                         this help

Environment: PARLEY_AUTH_URL, PARLEY_ADMIN_TOKEN (required for API commands).
Exit codes: 0 ok, 1 the API refused or could not be reached, 2 usage error.
`;

const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  url: { type: 'string' },
  dir: { type: 'string' },
  endpoint: { type: 'string' },
  events: { type: 'string' },
  rooms: { type: 'string' },
  disabled: { type: 'boolean' },
  enabled: { type: 'boolean' },
  alg: { type: 'string' },
  'allowed-origins': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-frame-bytes': { type: 'string' },
  'messages-per-second': { type: 'string' },
  burst: { type: 'string' },
  'max-rooms': { type: 'string' },
  'max-token-ttl': { type: 'string' },
  history: { type: 'boolean' },
  compression: { type: 'boolean' },
  'show-moderators': { type: 'boolean' },
  'history-max-age': { type: 'string' },
  'history-max-messages': { type: 'string' },
  'history-max-bytes': { type: 'string' },
  ...MODERATION_OPTIONS,
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; allowNegative: true }>>['values'];

class UsageError extends Error {
  override name = 'UsageError';
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  fetch?: typeof fetch;
}

const cliEnvSchema = z.object({ authUrl: z.string().default(DEFAULT_AUTH_URL), adminToken: z.string().optional() });

/**
 * Runs `parley-admin` with `argv` (without node and the script) and returns the exit code:
 * 0 ok, 1 API error (printed as `error: <code>: <message>`), 2 usage error. Never prints the
 * admin token; prints an API key only in `keys create`, where the operator must copy it.
 */
export async function runCli(argv: string[], env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, allowNegative: true, strict: true }));
  } catch (error) {
    io.stderr(`parley-admin: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (values.help || positionals.length === 0 || positionals[0] === 'help') {
    (values.help || positionals[0] === 'help' ? io.stdout : io.stderr)(USAGE);
    return values.help || positionals[0] === 'help' ? EXIT_OK : EXIT_USAGE;
  }
  try {
    const config = readConfig(cliEnvSchema, { authUrl: 'PARLEY_AUTH_URL', adminToken: 'PARLEY_ADMIN_TOKEN' }, env);
    const client = () => {
      if (!config.adminToken) throw new UsageError('set PARLEY_ADMIN_TOKEN to the admin token of the auth service');
      return createAdminClient({ baseUrl: values.url ?? config.authUrl, adminToken: config.adminToken, ...(io.fetch && { fetch: io.fetch }) });
    };
    await dispatch(positionals, values, client, io);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`parley-admin: ${error.message}\nRun parley-admin --help for usage.\n`);
      return EXIT_USAGE;
    }
    if (error instanceof AdminApiError) {
      io.stderr(`error: ${error.code}: ${error.message}${error.status ? ` (HTTP ${error.status})` : ''}\n`);
      return EXIT_API_ERROR;
    }
    io.stderr(`error: ${(error as Error).message}\n`);
    return EXIT_API_ERROR;
  }
}

async function dispatch(positionals: string[], values: Values, client: () => AdminClient, io: CliIo): Promise<void> {
  const [group, command, ...rest] = positionals;
  const args = (names: string[]) => {
    if (rest.length !== names.length) throw new UsageError(`${group} ${command} takes ${names.map((n) => `<${n}>`).join(' ') || 'no arguments'}`);
    return rest.map((r) => r);
  };
  const out = (data: unknown, human: () => string) => io.stdout(values.json ? `${JSON.stringify(data, null, 2)}\n` : human());
  const ns = (value: string) => encodeURIComponent(value);
  const moderation = (words: string[]): ModerationCommand => ({
    words,
    values,
    client,
    out,
    usage: (message) => {
      throw new UsageError(message);
    },
  });
  if (group === 'audit') return runAuditCommand(moderation(positionals.slice(1)));
  if (group === 'rooms' && (await runRoomsCommand(command, moderation(rest)))) return;

  switch (`${group} ${command}`) {
    case 'tenants create': {
      const [name] = args(['ns']) as [string];
      const settings = settingsPatch(values);
      const tenant = await client().request<Tenant>('POST', '/v1/admin/tenants', { ns: name, ...(Object.keys(settings).length > 0 && { settings }) });
      return out(tenant, () => `Created tenant ${tenant.ns}.\n${renderTenant(tenant)}`);
    }
    case 'tenants list': {
      args([]);
      const { tenants } = await client().request<{ tenants: Tenant[] }>('GET', '/v1/admin/tenants');
      return out({ tenants }, () =>
        tenants.length === 0
          ? 'No tenants.\n'
          : renderTable(
              ['ns', 'max conn', 'frame bytes', 'msg/s', 'burst', 'rooms', 'token ttl', 'history', 'origins', 'created'],
              tenants.map((t) => [
                t.ns,
                String(t.settings.maxConnections),
                String(t.settings.maxFrameBytes),
                String(t.settings.messagesPerSecond),
                String(t.settings.burst),
                String(t.settings.maxRooms),
                `${t.settings.maxTokenTtlSeconds}s`,
                t.settings.history.enabled ? 'on' : 'off',
                origins(t.settings),
                t.createdAt,
              ]),
            ),
      );
    }
    case 'tenants get': {
      const [name] = args(['ns']) as [string];
      const tenant = await client().request<Tenant>('GET', `/v1/admin/tenants/${ns(name)}`);
      return out(tenant, () => renderTenant(tenant));
    }
    case 'tenants update': {
      const [name] = args(['ns']) as [string];
      const settings = settingsPatch(values);
      if (Object.keys(settings).length === 0) throw new UsageError('tenants update needs at least one setting option');
      const tenant = await client().request<Tenant>('PATCH', `/v1/admin/tenants/${ns(name)}`, { settings });
      return out(tenant, () => `Updated tenant ${tenant.ns}.\n${renderTenant(tenant)}`);
    }
    case 'tenants delete': {
      const [name] = args(['ns']) as [string];
      await client().request('DELETE', `/v1/admin/tenants/${ns(name)}`);
      return out({ deleted: name }, () => `Deleted tenant ${name} and its API keys.\n`);
    }
    case 'keys create': {
      const [name] = args(['ns']) as [string];
      const key = await client().request<{ id: string; ns: string; prefix: string; createdAt: string; key: string }>('POST', `/v1/admin/tenants/${ns(name)}/keys`);
      return out(key, () => `Created API key ${key.id} for tenant ${key.ns}. It is shown only now; store it in the tenant backend's secrets:\n\n  ${key.key}\n\n`);
    }
    case 'keys list': {
      const [name] = args(['ns']) as [string];
      const { keys } = await client().request<{ keys: Array<{ id: string; prefix: string; createdAt: string }> }>('GET', `/v1/admin/tenants/${ns(name)}/keys`);
      return out({ keys }, () => (keys.length === 0 ? `Tenant ${name} has no API keys.\n` : renderTable(['id', 'prefix', 'created'], keys.map((k) => [k.id, `${k.prefix}…`, k.createdAt]))));
    }
    case 'keys revoke': {
      const [name, keyId] = args(['ns', 'keyId']) as [string, string];
      await client().request('DELETE', `/v1/admin/tenants/${ns(name)}/keys/${encodeURIComponent(keyId)}`);
      return out({ revoked: keyId, ns: name }, () => `Revoked API key ${keyId} of tenant ${name}.\n`);
    }
    case 'webhooks create': {
      const [name] = args(['ns']) as [string];
      if (!values.endpoint) throw new UsageError('webhooks create needs --endpoint <url> (where Parley POSTs the events)');
      if (!values.events) throw new UsageError(`webhooks create needs --events <a,b> (of ${WEBHOOK_EVENT_TYPES.join(', ')})`);
      const body = {
        url: values.endpoint,
        events: values.events.split(',').map((e) => e.trim()).filter((e) => e !== ''),
        ...(values.rooms !== undefined && { rooms: values.rooms }),
        ...(values.disabled && { enabled: false }),
      };
      const endpoint = await client().request<WebhookEndpoint & { secret: string }>('POST', `/v1/admin/tenants/${ns(name)}/webhooks`, body);
      return out(endpoint, () => `Registered webhook endpoint ${endpoint.id} for tenant ${endpoint.ns}. Its signing secret is shown only now; give it to the receiver:\n\n  ${endpoint.secret}\n\n`);
    }
    case 'webhooks list': {
      const [name] = args(['ns']) as [string];
      const { endpoints } = await client().request<{ endpoints: WebhookEndpoint[] }>('GET', `/v1/admin/tenants/${ns(name)}/webhooks`);
      return out({ endpoints }, () =>
        endpoints.length === 0
          ? `Tenant ${name} has no webhook endpoints.\n`
          : renderTable(['id', 'url', 'events', 'rooms', 'enabled', 'created'], endpoints.map((e) => [e.id, e.url, e.events.join(','), e.rooms ?? '*', e.enabled ? 'yes' : 'no', e.createdAt])),
      );
    }
    case 'webhooks get': {
      const [name, id] = args(['ns', 'id']) as [string, string];
      const endpoint = await client().request<WebhookEndpoint & { state?: EndpointState }>('GET', `/v1/admin/tenants/${ns(name)}/webhooks/${encodeURIComponent(id)}`);
      return out(endpoint, () =>
        renderFields([
          ['id', endpoint.id],
          ['tenant', endpoint.ns],
          ['url', endpoint.url],
          ['events', endpoint.events.join(', ')],
          ['rooms', endpoint.rooms ?? '* (every room)'],
          ['enabled', endpoint.enabled ? 'yes' : 'no (given up after the retry period; re-create it)'],
          ['created', endpoint.createdAt],
          ['last success', endpoint.state?.lastSuccessAt ?? 'never'],
          ['last failure', endpoint.state?.lastFailureAt ? `${endpoint.state.lastFailureAt} (${endpoint.state.lastError ?? 'unknown'})` : 'never'],
          ['pending', String(endpoint.state?.pending ?? 0)],
        ]),
      );
    }
    case 'webhooks update': {
      const [name, id] = args(['ns', 'id']) as [string, string];
      const patch = {
        ...(values.endpoint !== undefined && { url: values.endpoint }),
        ...(values.events !== undefined && { events: values.events.split(',').map((e) => e.trim()).filter((e) => e !== '') }),
        ...(values.rooms !== undefined && { rooms: values.rooms === '' ? null : values.rooms }),
        ...(values.enabled !== undefined && { enabled: values.enabled }),
      };
      if (Object.keys(patch).length === 0) throw new UsageError('webhooks update needs --endpoint, --events, --rooms or --enabled/--no-enabled');
      const endpoint = await client().request<WebhookEndpoint>('PATCH', `/v1/admin/tenants/${ns(name)}/webhooks/${encodeURIComponent(id)}`, patch);
      return out(endpoint, () => `Updated webhook endpoint ${endpoint.id} of tenant ${endpoint.ns} (${endpoint.enabled ? 'enabled' : 'disabled'}).\n`);
    }
    case 'webhooks delete': {
      const [name, id] = args(['ns', 'id']) as [string, string];
      await client().request('DELETE', `/v1/admin/tenants/${ns(name)}/webhooks/${encodeURIComponent(id)}`);
      return out({ deleted: id, ns: name }, () => `Removed webhook endpoint ${id} of tenant ${name}.\n`);
    }
    case 'signing-key generate': {
      const [kid] = args(['kid']) as [string];
      if (!values.dir) throw new UsageError('signing-key generate needs --dir <folder>');
      const alg = (values.alg ?? 'ES256') as SigningAlgorithm;
      if (alg !== 'ES256' && alg !== 'EdDSA') throw new UsageError('--alg is ES256 or EdDSA');
      const path = await writeSigningKeyFile(values.dir, await generateSigningKeyJwk(alg, kid));
      return out({ kid, alg, path }, () => `Wrote ${alg} signing key ${kid} to ${path} (private; mode 0600).\n`);
    }
    default:
      throw new UsageError(`unknown command "${positionals.join(' ')}"`);
  }
}

function settingsPatch(values: Values): TenantSettingsPatch {
  const int = (name: keyof Values): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isSafeInteger(n)) throw new UsageError(`--${name} takes a whole number, not "${String(raw)}"`);
    return n;
  };
  const patch: TenantSettingsPatch = {};
  const set = <K extends keyof TenantSettingsPatch>(key: K, value: TenantSettingsPatch[K] | undefined) => {
    if (value !== undefined) patch[key] = value;
  };
  if (values['allowed-origins'] !== undefined) {
    patch.allowedOrigins = values['allowed-origins'].split(',').map((s) => s.trim()).filter(Boolean);
  }
  set('maxConnections', int('max-connections'));
  set('maxFrameBytes', int('max-frame-bytes'));
  set('messagesPerSecond', int('messages-per-second'));
  set('burst', int('burst'));
  set('maxRooms', int('max-rooms'));
  set('maxTokenTtlSeconds', int('max-token-ttl'));
  set('compression', values.compression);
  if (values['show-moderators'] !== undefined) patch.moderation = { showModerators: values['show-moderators'] };
  const history: NonNullable<TenantSettingsPatch['history']> = {};
  if (values.history !== undefined) history.enabled = values.history;
  const maxAge = int('history-max-age');
  const maxMessages = int('history-max-messages');
  const maxBytes = int('history-max-bytes');
  if (maxAge !== undefined) history.maxAgeSeconds = maxAge;
  if (maxMessages !== undefined) history.maxMessagesPerRoom = maxMessages;
  if (maxBytes !== undefined) history.maxBytes = maxBytes;
  if (Object.keys(history).length > 0) patch.history = history;
  return patch;
}

const origins = (s: TenantSettings) => (s.allowedOrigins.length === 0 ? 'any' : s.allowedOrigins.join(','));

function renderTenant(t: Tenant): string {
  const s = t.settings;
  return renderFields([
    ['namespace', t.ns],
    ['allowed origins', origins(s)],
    ['max connections', String(s.maxConnections)],
    ['max frame bytes', String(s.maxFrameBytes)],
    ['messages/second', `${s.messagesPerSecond} (burst ${s.burst})`],
    ['max rooms', String(s.maxRooms)],
    ['max token ttl', `${s.maxTokenTtlSeconds}s`],
    ['compression', s.compression ? 'on' : 'off'],
    ['moderators shown', showsModerators(s) ? 'yes' : 'no (events leave out who acted and why)'],
    ['history', s.history.enabled ? `on (${s.history.maxAgeSeconds}s, ${s.history.maxMessagesPerRoom} messages/room, ${s.history.maxBytes} bytes)` : 'off'],
    ['created', t.createdAt],
    ['updated', t.updatedAt],
  ]);
}
