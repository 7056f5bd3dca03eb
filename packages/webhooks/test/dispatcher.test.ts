import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeRoomEvents } from '@parley/protocol';
import { createDispatcher, createMemoryEndpointStore, eventsFromMessage, isNonPublicAddress, newEndpoint, type WebhookEvent } from '../src/index.ts';

const LOCAL = { allowHttp: true, allowPrivateAddresses: true };
const servers: Array<{ close(): void }> = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

/** A real receiver that answers with `status(n)` for its n-th request (0-based) and records bodies. */
async function receiver(status: (n: number, event: WebhookEvent) => number) {
  const seen: WebhookEvent[] = [];
  let n = 0;
  const http = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const event = JSON.parse(body) as WebhookEvent;
      const code = status(n++, event);
      if (code < 300) seen.push(event);
      res.writeHead(code, code >= 300 && code < 400 ? { location: 'http://127.0.0.1:1/' } : {}).end();
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  servers.push(http);
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/`, seen };
}

const event = (seq: number, room: string, type: WebhookEvent['type'] = 'member.joined', time = new Date()): WebhookEvent => ({ id: `evt_${seq}`, type, time: time.toISOString(), tenant: 'acme', data: { room, user: `u${seq}` } });

describe('webhook dispatcher', () => {
  it('dispatcher - retries a failing endpoint with backoff; one room stays in order while another room is not held up', async () => {
    const target = await receiver((_, e) => (e.id === 'evt_1' && failures++ < 3 ? 503 : 204));
    let failures = 0;
    const endpoints = createMemoryEndpointStore();
    await endpoints.put(newEndpoint('acme', { url: target.url, events: ['member.joined'], enabled: true }));
    const dispatcher = createDispatcher({ endpoints, policy: LOCAL, backoffBaseMs: 20, backoffCapMs: 100 });
    await Promise.all([dispatcher.handle(event(1, 'slow')), dispatcher.handle(event(2, 'slow')), dispatcher.handle(event(3, 'fast'))]);
    expect(failures).toBe(4);
    expect(target.seen.map((e) => e.id)).toEqual(['evt_3', 'evt_1', 'evt_2']);
  });

  it('dispatcher - a redirect is not followed; after the retry period the event is given up and the endpoint disabled', async () => {
    const target = await receiver(() => 302);
    const endpoints = createMemoryEndpointStore();
    const endpoint = newEndpoint('acme', { url: target.url, events: ['member.joined'], enabled: true });
    await endpoints.put(endpoint);
    const given: string[] = [];
    const errors: string[] = [];
    const dispatcher = createDispatcher({
      endpoints,
      policy: LOCAL,
      retryPeriodMs: 300,
      backoffBaseMs: 20,
      backoffCapMs: 50,
      observer: { gaveUp: (_e, ev, error) => given.push(`${ev.id} ${error}`), attempted: (_e, _ev, r) => void (r.ok || errors.push(r.error)) },
    });
    await dispatcher.handle(event(7, 'lobby'));
    expect(given).toEqual(['evt_7 redirect 302 (not followed)']);
    expect(errors.length).toBeGreaterThan(1);
    expect((await endpoints.get('acme', endpoint.id))?.enabled).toBe(false);
    expect(target.seen).toEqual([]);
  });

  it('dispatcher - a receiver that answers too slowly is an attempt that failed (retried, the room held); a 1 MiB answer body does no harm', async () => {
    let requests = 0;
    const http = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        // The first answer comes after the timeout; the next ones at once, with a 1 MiB body.
        if (requests++ === 0) setTimeout(() => res.writeHead(204).end(), 1500);
        else res.writeHead(200).end('x'.repeat(1024 * 1024));
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    servers.push(http);
    const endpoints = createMemoryEndpointStore();
    const endpoint = newEndpoint('acme', { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/`, events: ['member.joined'], enabled: true });
    await endpoints.put(endpoint);
    const attempts: Array<{ ok: boolean; error?: string }> = [];
    const dispatcher = createDispatcher({
      endpoints,
      policy: LOCAL,
      timeoutMs: 300,
      backoffBaseMs: 10,
      backoffCapMs: 20,
      observer: { attempted: (_e, _ev, result) => attempts.push(result.ok ? { ok: true } : { ok: false, error: result.error }) },
    });
    await Promise.all([dispatcher.handle(event(1, 'lobby')), dispatcher.handle(event(2, 'lobby'))]);
    expect(attempts[0]).toEqual({ ok: false, error: 'no answer within 300 ms' });
    expect(attempts.slice(1)).toEqual([{ ok: true }, { ok: true }]);
    dispatcher.stop();
  });

  it('dispatcher - only endpoints of the event tenant, wanting its type and matching its room pattern, get it', async () => {
    const target = await receiver(() => 204);
    const endpoints = createMemoryEndpointStore();
    await endpoints.put(newEndpoint('acme', { url: `${target.url}a`, events: ['member.left'], rooms: 'support-*', enabled: true }));
    await endpoints.put(newEndpoint('other', { url: `${target.url}b`, events: ['member.joined', 'member.left'], enabled: true }));
    const dispatcher = createDispatcher({ endpoints, policy: LOCAL });
    for (const e of [event(1, 'support-7', 'member.left'), event(2, 'support-7', 'member.joined'), event(3, 'sales', 'member.left')]) await dispatcher.handle(e);
    expect(target.seen.map((e) => e.id)).toEqual(['evt_1']);
  });

  it('events - a room-events message becomes its webhook events, in order, with the room decoded; anything else is none', () => {
    const room = Buffer.from('café/1').toString('base64url');
    const message = encodeRoomEvents([{ type: 'room.occupied', room: 'café/1' }, { type: 'member.joined', room: 'café/1', user: 'ann' }]);
    expect(eventsFromMessage(`events.acme.${room}`, message, 'evt_x_7', new Date(0))).toEqual([
      { id: 'evt_x_7-0', type: 'room.occupied', time: '1970-01-01T00:00:00.000Z', tenant: 'acme', data: { room: 'café/1' } },
      { id: 'evt_x_7-1', type: 'member.joined', time: '1970-01-01T00:00:00.000Z', tenant: 'acme', data: { room: 'café/1', user: 'ann' } },
    ]);
    const frame = (o: object) => new TextEncoder().encode(JSON.stringify(o));
    expect(eventsFromMessage(`presence.acme.${room}`, message, 'e', new Date())).toEqual([]);
    expect(eventsFromMessage(`events.acme.${room}`, frame({ type: 'presence.join', user: 'a' }), 'e', new Date())).toEqual([]);
    expect(eventsFromMessage(`events.acme.${room}`, frame({ events: [{ type: 'member.joined', room: 'café/1' }] }), 'e', new Date())).toEqual([]);
    expect(eventsFromMessage(`events.acme.${room}`, frame({ events: [{ type: 'member.joined', room: 'other', user: 'a' }] }), 'e', new Date())).toEqual([]);
    expect(eventsFromMessage(`events.acme.${room}`, new TextEncoder().encode('{'), 'e', new Date())).toEqual([]);
  });

  it('url policy - loopback, private, link-local, metadata, multicast and mapped addresses are not public', () => {
    for (const a of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fe80::1', 'fd12::1', '::ffff:10.0.0.1', 'nonsense']) expect(isNonPublicAddress(a), a).toBe(true);
    for (const a of ['93.184.215.14', '8.8.8.8', '2606:4700::1111']) expect(isNonPublicAddress(a), a).toBe(false);
  });
});
