import { z } from 'zod';

/**
 * Grants in a user token: room name patterns mapped to capabilities. A pattern is a room name
 * where `*` matches any run of characters (room names cannot contain `*`), so `game-*` grants
 * every room starting with `game-` and `*` grants every room of the token's namespace.
 */
/**
 * `moderate` makes the user a moderator of the matching rooms (docs/protocol.md, "Moderation");
 * `binary` lets the user send binary frames to them and receive the binary frames of others.
 */
export const CAPABILITIES = ['subscribe', 'publish', 'presence', 'history', 'moderate', 'binary'] as const;
export type Capability = (typeof CAPABILITIES)[number];

export const ROOM_PATTERN_SYNTAX = /^[\p{L}\p{N}\p{M}_\-:@/#+=~!*]{1,128}$/u;

export const grantsSchema = z
  .record(z.string().regex(ROOM_PATTERN_SYNTAX, 'room pattern'), z.array(z.enum(CAPABILITIES)).max(CAPABILITIES.length))
  .refine((g) => Object.keys(g).length <= 64, 'at most 64 room patterns');

export type Grants = z.infer<typeof grantsSchema>;

export interface CompiledGrants {
  /** True when the grants give `capability` on `room`. */
  allows(room: string, capability: Capability): boolean;
}

export function compileGrants(grants: Grants): CompiledGrants {
  const exact = new Map<string, Set<Capability>>();
  const wildcards: Array<{ re: RegExp; caps: Set<Capability> }> = [];
  for (const [pattern, caps] of Object.entries(grants)) {
    const set = new Set(caps);
    if (!pattern.includes('*')) {
      exact.set(pattern, new Set([...(exact.get(pattern) ?? []), ...set]));
    } else {
      const source = pattern.split('*').map((part) => part.replace(/[\\^$+?.()|[\]{}/]/g, '\\$&')).join('.*');
      wildcards.push({ re: new RegExp(`^${source}$`, 'u'), caps: set });
    }
  }
  return {
    allows(room, capability) {
      if (exact.get(room)?.has(capability)) return true;
      for (const w of wildcards) if (w.caps.has(capability) && w.re.test(room)) return true;
      return false;
    },
  };
}
