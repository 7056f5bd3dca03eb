import { describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { apiKeyHint, bearerCredential, displayPrefix, secretsEqual } from '../src/api-keys.ts';
import { createClientIpResolver } from '../src/client-ip.ts';

describe('credential guards', () => {
  it('keys - hints and prefixes never contain the secret part', () => {
    const key = `pk_acme_${'s'.repeat(43)}`;
    expect(apiKeyHint(key)).toBe('pk_acme_');
    expect(displayPrefix(key)).toBe('pk_acme_ssss');
    expect(apiKeyHint('pk_A.B_xxx')).toBe('malformed');
    expect(apiKeyHint('secret')).toBe('malformed');
    expect(bearerCredential('Bearer abc')).toBe('abc');
    expect(bearerCredential('bearer  abc ')).toBe('abc');
    expect(bearerCredential('Basic abc')).toBeUndefined();
    expect(bearerCredential('Bearer a b')).toBeUndefined();
    expect(secretsEqual('same', 'same')).toBe(true);
    expect(secretsEqual('same', 'same!')).toBe(false);
  });

  it('client ip - X-Forwarded-For is trusted only from configured proxies', async () => {
    const app = new Hono();
    const peer = (c: { req: { header(n: string): string | undefined } }) => c.req.header('x-peer') ?? 'unknown';
    const resolve = createClientIpResolver(['10.0.0.0/8', '192.0.2.1'], peer);
    app.get('/', (c) => c.text(resolve(c)));
    const ip = async (headers: Record<string, string>) => (await app.request('/', { headers })).text();
    expect(await ip({ 'x-peer': '203.0.113.5', 'x-forwarded-for': '1.2.3.4' })).toBe('203.0.113.5');
    expect(await ip({ 'x-peer': '10.1.2.3', 'x-forwarded-for': '1.2.3.4, 198.51.100.7, 192.0.2.1' })).toBe('198.51.100.7');
    expect(await ip({ 'x-peer': '::ffff:10.1.2.3', 'x-forwarded-for': '198.51.100.8' })).toBe('198.51.100.8');
    expect(await ip({ 'x-peer': '10.1.2.3' })).toBe('10.1.2.3');
    expect(() => createClientIpResolver(['nonsense'])).toThrow(/not an IP address/);
  });
});
