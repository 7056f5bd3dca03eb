import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { startNats, type NatsProcess } from '@parley/testkit';
import { DEFAULT_HISTORY_RETENTION } from '../src/index.ts';
import { createJetStreamHistoryStore, streamName } from '../src/jetstream.ts';
import { runHistoryContract } from './history-contract.ts';

runHistoryContract('jetstream', async () => {
  const server = await startNats({ jetstream: true });
  const bus = await createNatsBus({ servers: server.url, name: 'history-contract', connectTimeoutMs: 5_000 });
  const store = createJetStreamHistoryStore(bus.raw);
  return {
    store,
    elapse: () => {},
    async teardown() {
      await store.close();
      await bus.close();
      await server.cleanup();
    },
  };
});

describe('jetstream history store', () => {
  let server: NatsProcess;
  let bus: NatsBus;
  beforeAll(async () => {
    server = await startNats({ jetstream: true });
    bus = await createNatsBus({ servers: server.url, name: 'history-js', connectTimeoutMs: 5_000 });
  });
  afterAll(async () => {
    await bus.close();
    await server.cleanup();
  });

  it('jetstream history - one stream per tenant carries the retention as limits and the setting version', async () => {
    const store = createJetStreamHistoryStore(bus.raw);
    await store.ensure({ ns: 'layout', retention: { maxAgeSeconds: 3600, maxMessagesPerRoom: 50, maxBytes: 1 << 20 }, version: 7 });
    const jsm = await jetstreamManager(bus.raw);
    const info = await jsm.streams.info(streamName('layout'));
    expect(info.config).toMatchObject({
      subjects: ['chat.layout.*'],
      max_msgs_per_subject: 50,
      max_bytes: 1 << 20,
      max_age: 3600 * 1e9,
      discard: 'old',
      metadata: { parley_version: '7' },
    });
    // Another gateway with an older token does not undo it; one with a newer token does.
    const other = createJetStreamHistoryStore(bus.raw);
    await other.ensure({ ns: 'layout', retention: { ...DEFAULT_HISTORY_RETENTION }, version: 6 });
    expect((await jsm.streams.info(streamName('layout'))).config.max_msgs_per_subject).toBe(50);
    await other.ensure({ ns: 'layout', retention: { maxAgeSeconds: 3600, maxMessagesPerRoom: 80, maxBytes: 1 << 20 }, version: 8 });
    expect((await jsm.streams.info(streamName('layout'))).config.max_msgs_per_subject).toBe(80);
  });

  it('jetstream history - a plain NATS publish to a history room is stored too', async () => {
    const store = createJetStreamHistoryStore(bus.raw);
    await store.ensure({ ns: 'plain', retention: { ...DEFAULT_HISTORY_RETENTION }, version: 1 });
    await bus.publish('chat.plain.bG9iYnk', new TextEncoder().encode('{"type":"message","from":{"user":"$server"}}'));
    const deadline = Date.now() + 5_000;
    while ((await store.latest('plain', 'lobby', 5)).messages.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect((await store.latest('plain', 'lobby', 5)).messages).toHaveLength(1);
  });

  it('jetstream history - without JetStream on the server, history fails with history_unavailable and health says why', async () => {
    const plain = await startNats();
    const plainBus = await createNatsBus({ servers: plain.url, name: 'history-nojs', connectTimeoutMs: 5_000 });
    try {
      const store = createJetStreamHistoryStore(plainBus.raw, { requestTimeoutMs: 1000 });
      expect(store.health().ok).toBe(true);
      expect((await store.probe()).ok).toBe(false);
      // Not requested yet: a gateway whose tenants do not use history stays ready.
      expect(store.health().ok).toBe(true);
      await expect(store.ensure({ ns: 'x', retention: { ...DEFAULT_HISTORY_RETENTION }, version: 1 })).rejects.toMatchObject({ code: 'history_unavailable' });
      const health = store.health();
      expect(health.ok).toBe(false);
      expect(health.reason).toMatch(/JetStream/);
    } finally {
      await plainBus.close();
      await plain.cleanup();
    }
  });
});
