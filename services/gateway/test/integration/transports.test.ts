import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '@parley/bus';
import { createMemoryHistoryStore } from '@parley/history';
import { CLOSE_CODES } from '@parley/protocol';
import type { GatewayEvents } from '../../src/index.ts';
import { TRANSPORTS, connectVia, createTestKeys, joinVia, mintToken, startTestGateway, type ProtocolClient, type TestGateway, type TestKeys } from '../support.ts';

// The protocol's behaviour, one suite run over both transports: what a client sees must not
// depend on whether its frames travel over a WebSocket or over SSE and HTTP POSTs.
describe.each(TRANSPORTS)('protocol over %s', (transport) => {
  let keys: TestKeys;
  let gw: TestGateway;
  const bus = createMemoryBus();
  const history = createMemoryHistoryStore({ bus });
  const clients: ProtocolClient[] = [];
  /** Every gateway event, as a feature plugged in through GatewayEvents would see it. */
  const seen: string[] = [];
  const recorder: GatewayEvents = {
    connected: (c) => seen.push(`connected ${c.user}`),
    joined: (c, room) => seen.push(`joined ${c.user} ${room}`),
    left: (c, room) => seen.push(`left ${c.user} ${room}`),
    published: (c, m) => seen.push(`published ${c.user} ${m.room} ${m.kind}${m.seq === undefined ? '' : ' seq'}`),
    closed: (c, reason) => seen.push(`closed ${c.user} ${reason}`),
  };
  const connect = async (token: string) => {
    const c = await connectVia(transport, gw, token);
    clients.push(c);
    return c;
  };
  const joined = async (token: string, rooms: string[]) => {
    const c = await joinVia(transport, gw, token, rooms);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    keys = await createTestKeys();
    gw = await startTestGateway(keys, { bus, history, maxPayloadBytes: 4096, events: [recorder, { published: () => { throw new Error('a broken hook'); } }] });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await gw.gateway.close();
    await history.close();
  });

  it(`${transport} - rooms: a publish is acknowledged and delivered to the room's members, not to others`, async () => {
    const alice = await joined(await mintToken(keys, { sub: 'alice' }), ['lobby']);
    const bob = await joined(await mintToken(keys, { sub: 'bob' }), ['lobby']);
    const carol = await joined(await mintToken(keys, { sub: 'carol' }), ['elsewhere']);
    const ack = await alice.request({ type: 'publish', room: 'lobby', data: { text: 'hi' } });
    expect(ack.type).toBe('ack');
    const message = await bob.waitFor((f) => f.type === 'message' && f.room === 'lobby');
    expect(message).toMatchObject({ data: { text: 'hi' }, from: { user: 'alice' }, msgId: ack.msgId });
    const left = await bob.request({ type: 'leave', room: 'lobby' });
    expect(left.type).toBe('ack');
    await alice.request({ type: 'publish', room: 'lobby', data: { text: 'after' } });
    await expect(bob.waitFor((f) => f.type === 'message' && (f.data as { text: string }).text === 'after', 500)).rejects.toThrow();
    expect(carol.all('message')).toEqual([]);
  });

  it(`${transport} - presence: joins and leaves are announced, the snapshot lists members`, async () => {
    const dave = await joined(await mintToken(keys, { sub: 'dave', info: { name: 'Dave' } }), ['presence-room']);
    const erin = await joined(await mintToken(keys, { sub: 'erin' }), ['presence-room']);
    expect(await dave.waitFor((f) => f.type === 'presence.join' && f.user === 'erin')).toMatchObject({ room: 'presence-room' });
    const snapshot = await dave.request({ type: 'presence', room: 'presence-room' });
    expect((snapshot.members as Array<{ user: string }>).map((m) => m.user).sort()).toEqual(['dave', 'erin']);
    await erin.close();
    await dave.waitFor((f) => f.type === 'presence.leave' && f.user === 'erin', 10_000);
  });

  it(`${transport} - history and resume: a member that comes back with since gets what it missed, in order`, async () => {
    const token = (sub: string) => mintToken(keys, { sub, hist: true });
    const writer = await joined(await token('writer'), ['history-room']);
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push((await writer.request({ type: 'publish', room: 'history-room', data: { i } })).seq as number);
    const page = await writer.request({ type: 'history', room: 'history-room', limit: 3 });
    expect((page.messages as Array<{ seq: number }>).map((m) => m.seq)).toEqual(seqs.slice(2));
    const reader = await connect(await token('reader'));
    await reader.waitFor('welcome');
    expect((await reader.request({ type: 'join', room: 'history-room', since: seqs[1] })).type).toBe('joined');
    for (const seq of seqs.slice(2)) expect(await reader.waitFor((f) => f.type === 'message' && f.seq === seq)).toMatchObject({ room: 'history-room' });
  });

  it(`${transport} - limits: a frame over the tenant's size and a join past its room limit are refused with their codes`, async () => {
    const client = await joined(await mintToken(keys, { sub: 'limited', lim: { maxRooms: 1, maxFrameBytes: 512 } }), ['one']);
    expect(await client.request({ type: 'join', room: 'two' })).toMatchObject({ type: 'error', code: 'too_many_rooms' });
    client.send({ type: 'publish', room: 'one', data: 'x'.repeat(600) });
    expect(await client.waitFor((f) => f.type === 'error' && f.code === 'frame_too_large')).toBeTruthy();
  });

  it(`${transport} - errors: malformed and unknown frames get their error, and the connection goes on`, async () => {
    const client = await joined(await mintToken(keys, { sub: 'sloppy' }), []);
    client.send('{not json');
    expect(await client.waitFor('error')).toMatchObject({ code: 'bad_json' });
    expect(await client.request({ type: 'dance' })).toMatchObject({ type: 'error', code: 'unknown_type' });
    expect(await client.request({ type: 'leave', room: 'not-joined' })).toMatchObject({ type: 'error', code: 'not_joined' });
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  });

  it(`${transport} - a refused token gets its error and close code`, async () => {
    const expired = await mintToken(keys, { sub: 'late', iat: Math.floor(Date.now() / 1000) - 120, ttlSeconds: 60 });
    const client = await connect(expired);
    expect((await client.closed).code).toBe(CLOSE_CODES.token_expired);
    expect(client.all('error')[0]).toMatchObject({ code: 'token_expired' });
    const forged = await connect('e30.e30.sig');
    expect((await forged.closed).code).toBe(CLOSE_CODES.unauthorized);
  });

  it(`${transport} - token refresh keeps the connection past the first token's exp; without one it closes with 4001`, async () => {
    const client = await joined(await mintToken(keys, { sub: 'refresher', ttlSeconds: 2 }), ['refresh-room']);
    expect(await client.request({ type: 'refresh', token: await mintToken(keys, { sub: 'refresher', ttlSeconds: 600 }) })).toMatchObject({ type: 'ack' });
    const lapsing = await joined(await mintToken(keys, { sub: 'lapsing', ttlSeconds: 2 }), []);
    expect((await lapsing.closed).code).toBe(CLOSE_CODES.token_expired);
    expect(client.isClosed).toBe(false);
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  });

  it(`${transport} - gateway event hooks see connect, join, publish, leave and close, in order; a hook that throws harms nothing`, async () => {
    const hooked = await joined(await mintToken(keys, { sub: `hooked-${transport}`, hist: true }), ['hook-room']);
    await hooked.request({ type: 'publish', room: 'hook-room', data: 1 });
    await hooked.request({ type: 'publish', room: 'hook-room', data: 2, ephemeral: true });
    await hooked.request({ type: 'join', room: 'hook-other' });
    await hooked.request({ type: 'leave', room: 'hook-room' });
    await hooked.close();
    const user = `hooked-${transport}`;
    const deadline = Date.now() + 5000;
    while (!seen.some((e) => e.startsWith(`closed ${user}`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(seen.filter((e) => e.includes(` ${user}`))).toEqual([
      `connected ${user}`,
      `joined ${user} hook-room`,
      `published ${user} hook-room room seq`,
      `published ${user} hook-room ephemeral`,
      `joined ${user} hook-other`,
      `left ${user} hook-room`,
      `left ${user} hook-other`,
      `closed ${user} client`,
    ]);
  });

  it(`${transport} - drain: clients are told to reconnect, then closed with 4000`, async () => {
    const own = await startTestGateway(keys, { bus: createMemoryBus() });
    const client = await joinVia(transport, own, await mintToken(keys, { sub: 'drained' }), ['drain-room']);
    const drained = own.gateway.drain(400);
    expect(await client.waitFor('reconnect')).toMatchObject({ reason: 'shutdown' });
    expect((await client.closed).code).toBe(CLOSE_CODES.shutdown);
    await drained;
  });
});
