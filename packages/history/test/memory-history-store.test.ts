import { describe, expect, it } from 'vitest';
import { createMemoryBus, type BusMessage } from '@parley/bus';
import { subjects } from '@parley/protocol';
import { createMemoryHistoryStore, DEFAULT_HISTORY_RETENTION, HEADER_HISTORY_SEQ } from '../src/index.ts';
import { runHistoryContract } from './history-contract.ts';

runHistoryContract('memory', async () => {
  let offset = 0;
  const store = createMemoryHistoryStore({ now: () => Date.now() + offset });
  return {
    store,
    elapse: (ms) => {
      offset += ms;
    },
    teardown: () => store.close(),
  };
});

describe('memory history store', () => {
  const tenant = { ns: 'acme', retention: { ...DEFAULT_HISTORY_RETENTION }, version: 1 };
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

  it('memory history - with a bus it stores plain publishes to its rooms and publishes what it appends', async () => {
    const bus = createMemoryBus();
    const store = createMemoryHistoryStore({ bus });
    await store.ensure(tenant);
    const seen: BusMessage[] = [];
    bus.subscribe(subjects.room('acme', 'lobby'), (m) => seen.push(m));
    await bus.publish(subjects.room('acme', 'lobby'), encode({ type: 'message', n: 'plain' }));
    await bus.publish(subjects.room('other', 'lobby'), encode({ type: 'message', n: 'other tenant' }));
    await new Promise((r) => setImmediate(r));
    const seq = await store.append('acme', 'lobby', encode({ type: 'message', n: 'appended' }), { msgId: 'm1' });
    await new Promise((r) => setImmediate(r));
    const stored = (await store.after('acme', 'lobby', 0, 10)).messages.map((m) => JSON.parse(new TextDecoder().decode(m.data)).n);
    expect(stored).toEqual(['plain', 'appended']);
    expect(seen.map((m) => m.headers[HEADER_HISTORY_SEQ])).toEqual([undefined, String(seq)]);
    expect(await store.position('other')).toBe(0);
    await store.close();
    await bus.close();
  });

  it('memory history - memory stays bounded by the tenant byte cap under a long stream of rooms', async () => {
    const store = createMemoryHistoryStore();
    await store.ensure({ ...tenant, retention: { ...DEFAULT_HISTORY_RETENTION, maxBytes: 64 * 1024 } });
    const data = new Uint8Array(200).fill(32);
    for (let i = 0; i < 20_000; i++) await store.append('acme', `room-${i}`, data, { msgId: `id-${i}` });
    let kept = 0;
    for (let i = 0; i < 20_000; i++) kept += (await store.after('acme', `room-${i}`, 0, 10)).messages.length;
    expect(kept * 264).toBeLessThanOrEqual(64 * 1024);
    expect(kept).toBeGreaterThan(100);
    await store.close();
  });
});
