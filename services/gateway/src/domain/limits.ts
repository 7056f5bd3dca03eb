import { z } from 'zod';

/** Per-tenant limits, carried in the user token's `lim` claim (set by auth from tenant settings). */
export const tenantLimitsSchema = z.object({
  maxFrameBytes: z.number().int().positive(),
  messagesPerSecond: z.number().positive(),
  burst: z.number().int().positive(),
  maxRooms: z.number().int().positive(),
  maxConnections: z.number().int().positive(),
});
export type TenantLimits = z.infer<typeof tenantLimitsSchema>;

/** Defaults for tokens that carry no `lim` claim; each also caps what a token may ask for. */
export const DEFAULT_TENANT_LIMITS: TenantLimits = {
  maxFrameBytes: 16 * 1024,
  messagesPerSecond: 20,
  burst: 40,
  maxRooms: 100,
  maxConnections: 10_000,
};

/** The hard per-frame ceiling of the gateway: larger frames close the socket (uWS `maxPayloadLength`). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;

/** Consecutive refused (rate-limited) frames after which a connection is closed as a flood. */
export const DEFAULT_FLOOD_CLOSE_AFTER = 100;
/** Invalid frames (binary, malformed) after which a connection is closed for protocol violations. */
export const DEFAULT_VIOLATIONS_CLOSE_AFTER = 20;

export function effectiveLimits(claimed: Partial<TenantLimits> | undefined, maxPayloadBytes: number): TenantLimits {
  const l = { ...DEFAULT_TENANT_LIMITS, ...claimed };
  return { ...l, maxFrameBytes: Math.min(l.maxFrameBytes, maxPayloadBytes) };
}
