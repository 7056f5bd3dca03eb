import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { freePort, startNats, startToxiproxy, until, type NatsProcess, type Toxiproxy } from '@parley/testkit';
import { DEFAULT_HISTORY_RETENTION, type HistoryStore } from '../src/index.ts';
import { FOLLOW_INACTIVE_MS } from '../src/jetstream-follower.ts';
import { createJetStreamHistoryStore, streamName } from '../src/jetstream.ts';

const NS = 'slow-server';
const TENANT = { ns: NS, retention: { ...DEFAULT_HISTORY_RETENTION }, version: 1 };
/** Each way: every JetStream request takes over 1.4 s, more than a hedge's wait and less than the 3 s request timeout. */
const LATENCY_MS = 700;
/** A create answered after its request timed out (a very busy machine) leaves a consumer that the server removes when it has been idle this long. */
const CONSUMERS_GONE_MS = FOLLOW_INACTIVE_MS + 10_000;

/**
 * A server that answers every request late (a busy one, behind a 700 ms link each way): a
 * follower's consumer create must be given its time, not abandoned and retried (which would fail
 * every attempt), and the hedged creates that lose must not stay behind.
 */
describe('history feeds from a JetStream server that answers late', () => {
  let nats: NatsProcess;
  let proxy: Toxiproxy;
  let slowBus: NatsBus;
  let directBus: NatsBus;
  let slow: HistoryStore;
  let direct: HistoryStore;

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    proxy = await startToxiproxy();
    const listen = `127.0.0.1:${await freePort()}`;
    await proxy.addProxy('nats', listen, `127.0.0.1:${nats.port}`);
    await proxy.addLatency('nats', LATENCY_MS);
    slowBus = await createNatsBus({ servers: `nats://${listen}`, name: 'slow-follower', connectTimeoutMs: 10_000 });
    directBus = await createNatsBus({ servers: nats.url, name: 'direct-writer', connectTimeoutMs: 5_000 });
    slow = createJetStreamHistoryStore(slowBus.raw);
    direct = createJetStreamHistoryStore(directBus.raw);
    await direct.ensure(TENANT);
  }, 60_000);
  afterAll(async () => {
    await slow?.close();
    await direct?.close();
    await slowBus?.close();
    await directBus?.close();
    await proxy?.stop();
    await nats?.cleanup();
  });

  const consumers = async () => {
    const jsm = await jetstreamManager(directBus.raw);
    return (await jsm.consumers.list(streamName(NS)).next()).length;
  };

  it('slow server - a feed starts, and resumes after its consumer is deleted, when every request takes 1.4 s; the hedged creates that lost are deleted', async () => {
    const received: number[] = [];
    const errors: Error[] = [];
    const repairs: string[] = [];
    const started = Date.now();
    const follower = await slow.follow(NS, 'room', 0, {
      message: (m) => void received.push(m.seq),
      error: (e) => void errors.push(e),
      repairing: (reason) => void repairs.push(reason),
    });
    const startedInMs = Date.now() - started;
    expect(startedInMs).toBeGreaterThan(2 * LATENCY_MS);

    const first = await direct.append(NS, 'room', new TextEncoder().encode('{}'), { msgId: 'first' });
    await until(() => received.length === 1, 'the first message', 10_000);

    // The server drops the consumer: the feed notices and creates another, just as slowly.
    const jsm = await jetstreamManager(directBus.raw);
    for (const info of await jsm.consumers.list(streamName(NS)).next()) await jsm.consumers.delete(streamName(NS), info.name);
    await until(() => repairs.length > 0, 'the feed to notice its consumer is gone', 15_000);
    const second = await direct.append(NS, 'room', new TextEncoder().encode('{}'), { msgId: 'second' });
    await until(() => received.length === 2, 'the message after the repair', 20_000);

    expect(received).toEqual([first, second]);
    expect(errors).toEqual([]);
    // A hedge that answered after the winner is deleted when it answers.
    await until(async () => (await consumers()) === 1, 'one consumer for the room', CONSUMERS_GONE_MS, 50);
    follower.stop();
    await until(async () => (await consumers()) === 0, 'no consumer once the feed stopped', CONSUMERS_GONE_MS, 50);
    console.log(`[slow-server] the feed started in ${(startedInMs / 1000).toFixed(1)} s with every request taking ${(2 * LATENCY_MS) / 1000} s`);
  }, 120_000);
});
