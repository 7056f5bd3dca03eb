import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, ParleyError, type BinaryMessage, type ModerationEvent, type ParleyClient, type Transport } from '@parley/client';
import { createMemoryBus } from '@parley/bus';
import { createMemoryHistoryStore } from '@parley/history';
import type { Grants } from '@parley/protocol';
import { createTestKeys, mintToken, startTestGateway, waitUntil, type TestGateway, type TestKeys } from '../support.ts';

const FAST = { messagesPerSecond: 1000, burst: 1000 };
const MEMBER: Grants = { '*': ['subscribe', 'publish', 'presence', 'history', 'binary'] };
const MODERATOR: Grants = { '*': ['subscribe', 'publish', 'presence', 'history', 'binary', 'moderate'] };

/** @parley/client as a moderator's and a member's app use it: moderation methods, events, removal, binary frames. */
describe('@parley/client moderation', () => {
  let keys: TestKeys;
  let gw: TestGateway;
  const bus = createMemoryBus();
  const history = createMemoryHistoryStore({ bus });
  const clients: ParleyClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    gw = await startTestGateway(keys, { bus, history });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await gw.gateway.close();
    await history.close();
  });

  const connect = async (user: string, grants: Grants, transport: Transport = 'websocket') => {
    const c = createClient({ url: `ws://127.0.0.1:${gw.gateway.port}/v1/ws`, transports: [transport], getToken: () => mintToken(keys, { sub: user, grants, hist: true, lim: FAST }) });
    clients.push(c);
    await waitUntil(() => c.connected, `${user} connected`);
    return c;
  };

  for (const transport of ['websocket', 'sse'] as const) {
    it(`client moderation (${transport}) - a moderator mutes, deletes and bans from the SDK; the member's app sees each event, its error, and its removal`, async () => {
      const room = `sdk-${transport}`;
      const mod = (await connect(`mod-${transport}`, MODERATOR)).room(room);
      const memberClient = await connect(`member-${transport}`, MEMBER, transport);
      const member = memberClient.room(room);
      await Promise.all([mod.join(), member.join()]);
      const events: ModerationEvent[] = [];
      member.on('moderation', (e) => events.push(e));
      const removed: ParleyError[] = [];
      member.on('removed', (e) => removed.push(e));

      const rude = await member.publish('rude');
      await mod.mute(`member-${transport}`, { seconds: 60, reason: 'language' });
      await waitUntil(() => events.some((e) => e.type === 'member.muted'), 'member.muted');
      const refused = await member.publish('again').catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ParleyError);
      expect((refused as ParleyError).code).toBe('muted');
      expect((refused as ParleyError).retryAfterMs).toBeGreaterThan(55_000);

      await mod.deleteMessage({ seq: rude.seq! }, { reason: 'language' });
      await waitUntil(() => events.some((e) => e.type === 'message.deleted'), 'message.deleted');
      expect(events.find((e) => e.type === 'message.deleted')).toMatchObject({ deleted: { seq: rude.seq }, by: `mod-${transport}`, reason: 'language' });
      expect((await member.history()).messages.map((m) => m.data)).not.toContain('rude');

      expect(await mod.settings({ slowModeSeconds: 5 })).toMatchObject({ slowModeSeconds: 5 });
      expect(await member.settings()).toMatchObject({ slowModeSeconds: 5, readOnly: false });

      await mod.ban(`member-${transport}`, { reason: 'repeated' });
      await waitUntil(() => removed.length > 0, 'removed');
      expect(removed[0]!.code).toBe('banned');
      expect(member.joined).toBe(false);
      await expect(member.join()).rejects.toMatchObject({ code: 'banned' });
      // Events carry seqs (history tenant): the room's lastSeq moved past them, in order.
      const seqs = events.map((e) => e.seq!);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

      await expect(member.ban(`mod-${transport}`)).rejects.toMatchObject({ code: 'forbidden' });
    });
  }

  it('client moderation - binary frames go from one app to another byte-exact (the receiver on SSE too)', async () => {
    const sender = (await connect('bin-a', MEMBER)).room('sdk-binary');
    const overWs = (await connect('bin-b', MEMBER)).room('sdk-binary');
    const overSse = (await connect('bin-c', MEMBER, 'sse')).room('sdk-binary');
    await Promise.all([sender.join(), overWs.join(), overSse.join()]);
    const got: BinaryMessage[] = [];
    overWs.on('binary', (m) => got.push(m));
    overSse.on('binary', (m) => got.push(m));
    const payload = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff);
    sender.sendBinary(payload);
    await waitUntil(() => got.length === 2, 'two binary deliveries');
    for (const m of got) {
      expect(m).toMatchObject({ room: 'sdk-binary', from: 'bin-a' });
      expect(Buffer.from(m.data).equals(Buffer.from(payload))).toBe(true);
    }
    expect(() => overSse.sendBinary(payload)).toThrow(/SSE/);
  });
});
