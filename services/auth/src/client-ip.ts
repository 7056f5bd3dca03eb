import { createClientAddressResolver } from '@parley/config';
import type { Context } from 'hono';

/**
 * The peer address of a request served by `@hono/node-server` (`c.env.incoming`), or `unknown`
 * when the app runs behind another server's `fetch` (which should pass `getClientIp`). Never reads
 * `X-Forwarded-For`: any client can write that header.
 */
export function socketClientIp(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/**
 * A client-IP getter for a service behind proxies: when the peer is one of `trustedProxies`
 * (addresses or CIDR ranges, e.g. `10.0.0.0/8`), the client is the right-most `X-Forwarded-For`
 * entry that is not a trusted proxy. Other peers are taken as they are. With no trusted proxies
 * this is `socketClientIp`. The presence service forwards its clients' addresses this way, so
 * list its addresses here too.
 */
export function createClientIpResolver(trustedProxies: readonly string[], peer: (c: Context) => string = socketClientIp): (c: Context) => string {
  if (trustedProxies.length === 0) return peer;
  const resolve = createClientAddressResolver(trustedProxies);
  return (c) => resolve(peer(c), c.req.header('x-forwarded-for'));
}
