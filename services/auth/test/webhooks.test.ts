import { describe, expect, it } from 'vitest';
import { createMemoryEndpointStore, MAX_ENDPOINTS_PER_TENANT, STRICT_URL_POLICY } from '@parley/webhooks';
import { createTestAuth } from './support.ts';

describe('webhook endpoint API', () => {
  it('webhooks - with the strict default policy, plain http, credentials and loopback, private, link-local or metadata hosts are refused', async () => {
    const t = await createTestAuth({ webhooks: { endpoints: createMemoryEndpointStore(), policy: STRICT_URL_POLICY } });
    const { key } = await t.tenantWithKey('acme');
    const create = (url: string) => t.call('POST', '/v1/webhooks', { auth: key, body: { url, events: ['member.joined'] } });
    for (const url of ['http://93.184.215.14/hook', 'https://127.0.0.1/hook', 'https://localhost/hook', 'https://10.1.2.3/h', 'https://192.168.0.9/h', 'https://169.254.169.254/latest/meta-data', 'https://[::1]/h', 'https://[fd00::1]/h', 'https://[::ffff:127.0.0.1]/h', 'https://user:pw@93.184.215.14/h', 'ftp://93.184.215.14/h', 'not a url']) {
      const res = await create(url);
      expect(res.status, url).toBe(400);
      expect(await res.json(), url).toMatchObject({ code: 'webhook_url_refused', temporary: false });
    }
    const ok = await create('https://93.184.215.14/hook');
    expect(ok.status).toBe(201);
    const created = (await ok.json()) as { id: string; secret: string };
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const listed = (await (await t.call('GET', '/v1/webhooks', { auth: key })).json()) as { endpoints: unknown[] };
    expect(listed.endpoints).toEqual([expect.objectContaining({ id: created.id, ns: 'acme', enabled: true })]);
    expect(JSON.stringify(listed)).not.toContain(created.secret);
    expect(t.logs.text()).not.toContain(created.secret);
  });

  it("webhooks - a tenant sees and deletes only its own endpoints, has at most the documented number, and bad input is a clear 400", async () => {
    const t = await createTestAuth({ webhooks: { endpoints: createMemoryEndpointStore(), policy: { allowHttp: true, allowPrivateAddresses: true } } });
    const a = (await t.tenantWithKey('tenant-a')).key;
    const b = (await t.tenantWithKey('tenant-b')).key;
    const made = (await (await t.call('POST', '/v1/webhooks', { auth: a, body: { url: 'http://127.0.0.1:9/a', events: ['member.left'], rooms: 'support-*' } })).json()) as { id: string };
    expect((await (await t.call('GET', '/v1/webhooks', { auth: b })).json()) as object).toEqual({ endpoints: [] });
    expect((await t.call('DELETE', `/v1/webhooks/${made.id}`, { auth: b })).status).toBe(404);
    for (const body of [{ url: 'http://127.0.0.1:9/a', events: [] }, { url: 'http://127.0.0.1:9/a', events: ['message.sent'] }, { url: 'http://127.0.0.1:9/a', events: ['member.left'], rooms: 'bad room' }, { url: 'http://127.0.0.1:9/a', events: ['member.left'], extra: 1 }]) {
      const res = await t.call('POST', '/v1/webhooks', { auth: a, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { code: string }).code).toMatch(/^bad_/);
    }
    for (let i = 1; i < MAX_ENDPOINTS_PER_TENANT; i++) expect((await t.call('POST', '/v1/webhooks', { auth: a, body: { url: `http://127.0.0.1:9/${i}`, events: ['member.joined'] } })).status).toBe(201);
    const over = await t.call('POST', '/v1/webhooks', { auth: a, body: { url: 'http://127.0.0.1:9/over', events: ['member.joined'] } });
    expect(over.status).toBe(409);
    expect(await over.json()).toMatchObject({ code: 'too_many_webhooks' });
    expect((await t.call('DELETE', `/v1/webhooks/${made.id}`, { auth: a })).status).toBe(204);
  });

  it('webhooks - without an endpoint store (auth without JetStream) the API answers 503 unavailable, saying why', async () => {
    const t = await createTestAuth();
    const { key } = await t.tenantWithKey('acme');
    const res = await t.call('GET', '/v1/webhooks', { auth: key });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: 'unavailable', temporary: true, message: expect.stringContaining('JetStream') });
  });
});
