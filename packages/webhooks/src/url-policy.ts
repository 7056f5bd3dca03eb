import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export interface UrlPolicy {
  /** Plain `http://` endpoints (local development). @default false: https only */
  allowHttp: boolean;
  /** Loopback, private, link-local and metadata addresses (tests, local development). @default false */
  allowPrivateAddresses: boolean;
}

export const STRICT_URL_POLICY: UrlPolicy = { allowHttp: false, allowPrivateAddresses: false };

/** The operator's policy from `PARLEY_WEBHOOKS_ALLOW_HTTP` and `PARLEY_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES` (`true`/`1`); the same for auth and dispatchers. */
export function urlPolicyFromEnv(env: Record<string, string | undefined>): UrlPolicy {
  const on = (name: string) => {
    const value = env[name];
    if (value === undefined || value === '' || value === 'false' || value === '0') return false;
    if (value === 'true' || value === '1') return true;
    throw new Error(`${name} must be true or false, not ${JSON.stringify(value)}`);
  };
  return { allowHttp: on('PARLEY_WEBHOOKS_ALLOW_HTTP'), allowPrivateAddresses: on('PARLEY_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES') };
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) blocked.addSubnet(net, prefix, 'ipv6');

/** True for addresses a webhook must not reach by default: loopback, private, link-local (cloud metadata), multicast, reserved. */
export function isNonPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return isNonPublicAddress(mapped);
  const family = isIP(address);
  return family === 0 || blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Why `url` may not be an endpoint under `policy`, or undefined when it may. Resolves the host name. */
export async function refusalOf(url: string, policy: UrlPolicy): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && policy.allowHttp)) return policy.allowHttp ? 'only http(s) URLs' : 'only https URLs (the operator has not allowed plain http)';
  if (parsed.username || parsed.password) return 'credentials in the URL are not allowed';
  if (policy.allowPrivateAddresses) return undefined;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch {
    return `the host ${host} does not resolve`;
  }
  const bad = addresses.find(isNonPublicAddress);
  return bad ? `the host resolves to a non-public address (${bad}); the operator has not allowed those` : undefined;
}
