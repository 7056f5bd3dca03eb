/**
 * Input limits enforced where input enters (gateways, the HTTP APIs), with the documented error.
 * docs/protocol.md lists them.
 */

/**
 * Deepest nesting of arrays and objects in a message's `data` (and a token's `info`): deeper
 * values get `bad_frame` (400 over HTTP). Encoding a deeper value would recurse past the stack.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Largest user token, in characters (bytes: a JWT is ASCII). A browser sends the token in the
 * WebSocket handshake's headers (`Sec-WebSocket-Protocol`), which gateways accept up to 4 KiB in
 * all; this leaves 1 KiB for the other headers. `POST /v1/tokens` refuses to mint a larger one
 * (413 `token_too_large`).
 */
export const MAX_TOKEN_BYTES = 3072;

/**
 * True when `value` nests arrays and objects more than `max` levels deep (a scalar is 0 levels,
 * `{}` or `[]` one). The walk stops at `max + 1` levels, so its own recursion is bounded.
 */
export function exceedsJsonDepth(value: unknown, max = MAX_JSON_DEPTH): boolean {
  return deeper(value, max);
}

function deeper(value: unknown, levelsLeft: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (levelsLeft === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (deeper(item, levelsLeft - 1)) return true;
    return false;
  }
  for (const key in value) if (deeper((value as Record<string, unknown>)[key], levelsLeft - 1)) return true;
  return false;
}
