import type { Fanout } from '../domain/fanout.ts';
import type { TemplatedApp } from './uws.ts';

/**
 * permessage-deflate on the WebSocket route (`PARLEY_WS_COMPRESSION`): `off` negotiates it with
 * no one; `tenant` with clients whose token carries `cmp: true` (the tenant's `compression`
 * setting); `on` with every client that offers it.
 */
export type CompressionMode = 'off' | 'tenant' | 'on';

export const COMPRESSION_MODES = ['off', 'tenant', 'on'] as const satisfies readonly CompressionMode[];

/** Frames shorter than this are sent as they are: deflate without shared context gains nothing on them. */
export const COMPRESS_MIN_BYTES = 256;

/**
 * Whether a socket presenting `token` may negotiate compression. In `tenant` mode the token's
 * `cmp` claim is read without verifying it: the token is verified right after the upgrade, and a
 * socket whose token is refused is closed. Until then a forged claim buys only inflation of the
 * few frames kept before `welcome`, which are bounded in count and inflated bytes (ws-server.ts).
 */
export function wantsCompression(mode: CompressionMode, token: string | undefined): boolean {
  if (mode !== 'tenant') return mode === 'on';
  const claims = token?.split('.')[1];
  if (!claims || claims.length > 16_384) return false;
  try {
    return (JSON.parse(Buffer.from(claims, 'base64url').toString()) as { cmp?: unknown }).cmp === true;
  } catch {
    return false;
  }
}

/** uWebSockets.js's native fan-out; with compression on, large frames go compressed to the members that negotiated it. */
export function createFanout(app: TemplatedApp, mode: CompressionMode): Fanout {
  if (mode === 'off') return { publish: (topic, data, binary = false) => void app.publish(topic, data, binary) };
  return { publish: (topic, data, binary = false) => void app.publish(topic, data, binary, data.byteLength >= COMPRESS_MIN_BYTES) };
}
