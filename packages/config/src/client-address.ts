import { BlockList, isIP } from 'node:net';

/**
 * The client address of a request that may have come through proxies: when the peer is one of
 * `trustedProxies` (addresses or CIDR ranges, e.g. `10.0.0.0/8`), the client is the right-most
 * `X-Forwarded-For` entry that is not a trusted proxy; any other peer is the client itself (anyone
 * can write that header). With no trusted proxies the peer is always the client. Throws at start
 * on an entry that is neither an address nor a range.
 */
export function createClientAddressResolver(trustedProxies: readonly string[]): (peer: string, forwardedFor: string | undefined) => string {
  if (trustedProxies.length === 0) return (peer) => peer;
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
  return (peer, forwardedFor) => {
    if (!isTrusted(peer)) return peer;
    const hops = (forwardedFor ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (!isTrusted(hop)) return hop;
    }
    return peer;
  };
}
