import { describe, expect, it } from 'vitest';
import { createMemoryHistoryStore, DEFAULT_HISTORY_RETENTION } from '@parley/history';
import { createLogger } from '@parley/observability';
import { RoomCatchUp } from '../../src/domain/history-catch-up.ts';
import { createHistoryFeeds } from '../../src/domain/history-feeds.ts';

const decoder = new TextDecoder();
const seqOf = (bytes: Uint8Array) => (JSON.parse(decoder.decode(bytes)) as { seq: number }).seq;
const tick = () => new Promise((r) => setImmediate(r));

/**
 * A real memory store and real feeds; the socket and the fan-out are recorded the way
 * uWebSockets.js behaves: a topic message reaches only sockets subscribed when it is published.
 */
async function setup() {
  const store = createMemoryHistoryStore();
  await store.ensure({ ns: 'acme', retention: { ...DEFAULT_HISTORY_RETENTION }, version: 1 });
  const received: number[] = [];
  let subscribed: string | undefined;
  const fanout = { publish: (topic: string, data: Uint8Array) => void (topic === subscribed && received.push(seqOf(data))) };
  const feeds = createHistoryFeeds(store, fanout, { logger: createLogger('test', { level: 'silent' }) });
  const socket = { closed: false, send: (b: Uint8Array) => void received.push(seqOf(b)), subscribe: (t: string) => void (subscribed = t), overflow: () => {} };
  const append = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => store.append('acme', 'r', new TextEncoder().encode(`{"type":"message","i":${i}}`), { msgId: `${Math.random()}` })));
  return { store, feeds, socket, received, append, isLive: () => subscribed !== undefined };
}

describe('history catch-up', () => {
  it('catch-up - messages that arrive during the replay are buffered and follow it once', async () => {
    const { store, feeds, socket, received, append, isLive } = await setup();
    const stored = await append(5);
    const { feed } = await feeds.acquire('acme', 'r', () => {});
    await tick();
    const catchUp = new RoomCatchUp(socket, feed, stored[1] as number);
    const page = await store.after('acme', 'r', catchUp.lastSent, 100);
    const live = await append(3);
    await tick(); // the feed delivers the live ones while the replay is "in flight": buffered
    expect(received).toEqual([]);
    catchUp.sendStored(page.messages);
    catchUp.finish();
    expect(isLive()).toBe(true);
    const later = await append(2);
    await tick();
    expect(received).toEqual([...stored.slice(2), ...live, ...later]);
  });

  it('catch-up - a replay that got ahead of the feed waits for it, skipping what it sent, then goes live', async () => {
    const { store, feeds, socket, received, append, isLive } = await setup();
    const { feed } = await feeds.acquire('acme', 'r', () => {});
    await tick();
    const since = feed.position;
    const ahead = await append(4); // stored, not yet delivered by the feed (it delivers on the next turn)
    const catchUp = new RoomCatchUp(socket, feed, since);
    catchUp.sendStored((await store.after('acme', 'r', since, 100)).messages);
    catchUp.finish();
    expect(isLive()).toBe(false);
    expect(received).toEqual(ahead);
    await tick();
    expect(isLive()).toBe(true);
    const later = await append(3);
    await tick();
    expect(received).toEqual([...ahead, ...later]);
  });

  it('catch-up - a cancelled catch-up sends nothing more and never subscribes', async () => {
    const { feeds, socket, received, append, isLive } = await setup();
    const { feed } = await feeds.acquire('acme', 'r', () => {});
    await tick();
    const catchUp = new RoomCatchUp(socket, feed, 0);
    await append(3);
    await tick();
    catchUp.cancel();
    catchUp.finish();
    expect(received).toEqual([]);
    expect(isLive()).toBe(false);
  });
});
