import { z } from '@hono/zod-openapi';
import { ParleyError } from '@parley/protocol';

/** Default tenant settings; every tenant starts from these and overrides what it needs. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
export const DEFAULT_MAX_FRAME_BYTES = 16_384;
/** Upper bound of `maxFrameBytes`: the gateway's WebSocket payload limit cannot go beyond it. */
export const MAX_FRAME_BYTES_LIMIT = 65_536;
export const DEFAULT_MESSAGES_PER_SECOND = 20;
export const DEFAULT_BURST = 40;
export const DEFAULT_MAX_ROOMS = 100;
export const DEFAULT_MAX_TOKEN_TTL_SECONDS = 3600;
/** Longest token lifetime a tenant may configure: revocation by `before` must stay meaningful. */
export const MAX_TOKEN_TTL_LIMIT_SECONDS = 7 * 24 * 3600;
export const DEFAULT_HISTORY_MAX_AGE_SECONDS = 86_400;
export const DEFAULT_HISTORY_MAX_MESSAGES_PER_ROOM = 1000;
export const DEFAULT_HISTORY_MAX_BYTES = 64 * 1024 * 1024;

/** An Origin as browsers send it: `scheme://host[:port]`, nothing else. */
const origin = z
  .string()
  .max(255)
  .refine((value) => {
    try {
      return new URL(value).origin === value;
    } catch {
      return false;
    }
  }, 'an origin is scheme://host[:port] with no path, e.g. https://app.example.com')
  .openapi({ example: 'https://app.example.com' });

const historySchema = z
  .object({
    enabled: z.boolean().default(false),
    maxAgeSeconds: z.number().int().min(60).max(90 * 86_400).default(DEFAULT_HISTORY_MAX_AGE_SECONDS),
    maxMessagesPerRoom: z.number().int().min(1).max(100_000).default(DEFAULT_HISTORY_MAX_MESSAGES_PER_ROOM),
    maxBytes: z.number().int().min(1024 * 1024).max(64 * 1024 * 1024 * 1024).default(DEFAULT_HISTORY_MAX_BYTES),
  })
  .strict();

const moderationSchema = z
  .object({
    showModerators: z
      .boolean()
      .default(true)
      .openapi({ description: "Moderation events (member.kicked, member.banned, message.deleted …) name the moderator (`by`) and carry the reason. False: members see only what happened (token claim `mhide`); the audit log keeps both either way." }),
  })
  .strict();

/**
 * A tenant's settings, with defaults. Limits travel inside every user token (`lim`, `origins`,
 * `hist`), so a change applies to tokens minted after it, not to live connections.
 */
export const tenantSettingsSchema = z
  .object({
    /** Allowed browser Origins; empty means any Origin. */
    allowedOrigins: z.array(origin).max(100).default([]),
    maxConnections: z.number().int().min(1).max(10_000_000).default(DEFAULT_MAX_CONNECTIONS),
    maxFrameBytes: z.number().int().min(256).max(MAX_FRAME_BYTES_LIMIT).default(DEFAULT_MAX_FRAME_BYTES),
    messagesPerSecond: z.number().int().min(1).max(10_000).default(DEFAULT_MESSAGES_PER_SECOND),
    burst: z.number().int().min(1).max(100_000).default(DEFAULT_BURST),
    maxRooms: z.number().int().min(1).max(10_000).default(DEFAULT_MAX_ROOMS),
    maxTokenTtlSeconds: z.number().int().min(1).max(MAX_TOKEN_TTL_LIMIT_SECONDS).default(DEFAULT_MAX_TOKEN_TTL_SECONDS),
    /** permessage-deflate for this tenant's clients, on gateways with `PARLEY_WS_COMPRESSION=tenant` (token claim `cmp`). */
    compression: z
      .boolean()
      .default(false)
      .openapi({ description: "WebSocket compression (permessage-deflate) for this tenant's clients, on gateways started with PARLEY_WS_COMPRESSION=tenant. Saves bandwidth on large messages at a CPU cost on the gateway; see docs/benchmarks.md." }),
    moderation: moderationSchema.default({ showModerators: true }),
    history: historySchema.default({
      enabled: false,
      maxAgeSeconds: DEFAULT_HISTORY_MAX_AGE_SECONDS,
      maxMessagesPerRoom: DEFAULT_HISTORY_MAX_MESSAGES_PER_ROOM,
      maxBytes: DEFAULT_HISTORY_MAX_BYTES,
    }),
  })
  .strict()
  .openapi('TenantSettings');

export type TenantSettings = z.infer<typeof tenantSettingsSchema>;

/** A partial update: only the fields given change; `history` and `moderation` are merged field by field. */
export const tenantSettingsPatchSchema = z
  .object({
    allowedOrigins: z.array(origin).max(100).optional(),
    maxConnections: z.number().int().optional(),
    maxFrameBytes: z.number().int().optional(),
    messagesPerSecond: z.number().int().optional(),
    burst: z.number().int().optional(),
    maxRooms: z.number().int().optional(),
    maxTokenTtlSeconds: z.number().int().optional(),
    compression: z.boolean().optional(),
    moderation: z.object({ showModerators: z.boolean().optional() }).strict().optional(),
    history: z
      .object({
        enabled: z.boolean().optional(),
        maxAgeSeconds: z.number().int().optional(),
        maxMessagesPerRoom: z.number().int().optional(),
        maxBytes: z.number().int().optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .openapi('TenantSettingsPatch');

export type TenantSettingsPatch = z.infer<typeof tenantSettingsPatchSchema>;

export function defaultTenantSettings(): TenantSettings {
  return tenantSettingsSchema.parse({});
}

/**
 * Applies `patch` on `base` and validates the result against the full schema, so a patch can
 * never leave a tenant with settings that the create path would refuse. Throws a ParleyError
 * `bad_frame` naming the offending settings.
 */
export function applySettingsPatch(base: TenantSettings, patch: TenantSettingsPatch): TenantSettings {
  const { history, moderation, ...rest } = patch;
  const merged = {
    ...base,
    ...stripUndefined(rest),
    history: { ...base.history, ...stripUndefined(history ?? {}) },
    moderation: { ...base.moderation, ...stripUndefined(moderation ?? {}) },
  };
  const result = tenantSettingsSchema.safeParse(merged);
  if (result.success) return result.data;
  const detail = result.error.issues
    .slice(0, 3)
    .map((issue) => `settings.${issue.path.join('.')}: ${issue.message}`)
    .join('; ');
  throw new ParleyError('bad_frame', `invalid settings: ${detail}`);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Whether moderation events name the moderator; tenants stored before the setting existed have none, and show them. */
export function showsModerators(settings: TenantSettings): boolean {
  return settings.moderation?.showModerators !== false;
}

/** The limits a gateway enforces per connection and tenant, carried in the token claim `lim`. */
export interface TokenLimits {
  maxFrameBytes: number;
  messagesPerSecond: number;
  burst: number;
  maxRooms: number;
  maxConnections: number;
}

export function tokenLimits(settings: TenantSettings): TokenLimits {
  return {
    maxFrameBytes: settings.maxFrameBytes,
    messagesPerSecond: settings.messagesPerSecond,
    burst: settings.burst,
    maxRooms: settings.maxRooms,
    maxConnections: settings.maxConnections,
  };
}

/**
 * @default 10000: live user revocations a tenant may hold (each kept until the tokens it covers
 * have expired). Gateways remember as many per tenant (`PARLEY_MAX_REVOCATIONS_PER_TENANT` on both).
 */
export const DEFAULT_MAX_REVOCATIONS_PER_TENANT = 10_000;
