import { BlockList, isIP } from 'node:net';
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
 * this is `socketClientIp`.
 */
export function createClientIpResolver(trustedProxies: readonly string[], peer: (c: Context) => string = socketClientIp): (c: Context) => string {
  if (trustedProxies.length === 0) return peer;
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : isIP(address) === 4 ? 'ipv4' : undefined;
    if (!family) throw new Error(`trusted proxy "${entry}" is not an IP address or CIDR range`);
    if (prefix === undefined) trusted.addAddress(address, family);
    else trusted.addSubnet(address, Number(prefix), family);
  }
  const isTrusted = (ip: string) => {
    const plain = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
    const family = isIP(plain);
    return family !== 0 && trusted.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
  return (c) => {
    const ip = peer(c);
    if (!isTrusted(ip)) return ip;
    const hops = (c.req.header('x-forwarded-for') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (!isTrusted(hop)) return hop;
    }
    return ip;
  };
}
