import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { startNatsCluster, until, type NatsCluster } from '@parley/testkit';
import { DEFAULT_HISTORY_RETENTION, type HistoryStore } from '../src/index.ts';
import { createJetStreamHistoryStore } from '../src/jetstream.ts';

/** Rooms followed by one store (one gateway); `PARLEY_NODE_LOSS_ROOMS` raises it for a measurement. */
const ROOMS = Number(process.env.PARLEY_NODE_LOSS_ROOMS ?? 600);
/**
 * From the loss, for every feed: a guard against feeds that never resume, not a speed figure
 * (1,500 feeds: 6.5–21 s on an idle machine, docs/benchmarks.md; 600 took 19 s once beside the
 * rest of the suite, where JetStream's elections are slower).
 */
const ALL_RESUMED_MS = 45_000;
/** Polling (and retrying appends) more often would add load to the elections the test waits for. */
const POLL_MS = 100;
const NS = 'node-loss';
const TENANT = { ns: NS, retention: { ...DEFAULT_HISTORY_RETENTION }, version: 1 };

/** Consumers held by the server (the followers' are single-replica, so each lives on one server). */
const consumersOn = async (monitorUrl: string) => ((await (await fetch(`${monitorUrl}/jsz`)).json()) as { consumers: number }).consumers;

describe('history feeds of many rooms across the loss of a NATS node', () => {
  let nats: NatsCluster;
  let followerBus: NatsBus;
  let writerBus: NatsBus;
  let follower: HistoryStore;
  let writer: HistoryStore;

  beforeAll(async () => {
    nats = await startNatsCluster(3, { jetstream: true });
    // The followers' connection starts on the server that will be lost; the writer never uses it.
    followerBus = await createNatsBus({ servers: nats.urls[0] as string, name: 'node-loss-follower', connectTimeoutMs: 5_000, reconnectWaitMs: 50, reconnectJitterMs: 0 });
    writerBus = await createNatsBus({ servers: nats.urls.slice(1), name: 'node-loss-writer', connectTimeoutMs: 5_000 });
    follower = createJetStreamHistoryStore(followerBus.raw, { replicas: 3 });
    writer = createJetStreamHistoryStore(writerBus.raw, { replicas: 3, requestTimeoutMs: 10_000 });
    await until(async () => writer.ensure(TENANT).then(() => true, () => false), 'the stream (JetStream elects its leaders first)', 30_000, POLL_MS);
  }, 60_000);
  afterAll(async () => {
    await follower?.close();
    await writer?.close();
    await followerBus?.close();
    await writerBus?.close();
    await nats?.stop();
  });

  it(`node loss - ${ROOMS} feeds of one gateway all resume after the loss of a NATS node: each room's next message once, and no consumer left behind`, async () => {
    const received = Array.from({ length: ROOMS }, () => [] as number[]);
    const errors: Error[] = [];
    for (let i = 0; i < ROOMS; i += 100) {
      await Promise.all(received.slice(i, i + 100).map((seqs, j) =>
        follower.follow(NS, `room-${i + j}`, 0, { message: (m) => void seqs.push(m.seq), error: (e) => void errors.push(e) })));
    }

    await nats.servers[0]?.stop();
    const lostAt = Date.now();
    const appended: number[] = [];
    const data = new TextEncoder().encode('{}');
    for (let i = 0; i < ROOMS; i += 100) {
      await Promise.all(received.slice(i, i + 100).map(async (_, j) => {
        await until(async () => {
          try {
            appended[i + j] = await writer.append(NS, `room-${i + j}`, data, { msgId: `after-${i + j}` });
            return true;
          } catch {
            return false;
          }
        }, `an acknowledged append to room-${i + j}`, 30_000, POLL_MS);
      }));
    }

    const appendedAt = Date.now();
    await until(() => received.every((seqs) => seqs.length > 0), 'every feed to deliver the message appended after the loss', ALL_RESUMED_MS - (Date.now() - lostAt), POLL_MS);
    const seconds = (from: number) => ((Date.now() - from) / 1000).toFixed(1);
    console.log(`[node-loss] ${ROOMS} feeds resumed ${seconds(lostAt)} s after the NATS node was lost (the last append was acknowledged after ${((appendedAt - lostAt) / 1000).toFixed(1)} s)`);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(errors).toEqual([]);
    expect(received).toEqual(appended.map((seq) => [seq]));
    // Creates that lost their race, or timed out on a live server, go within the inactivity timeout.
    await until(async () => (await Promise.all(nats.servers.slice(1).map((s) => consumersOn(s.monitorUrl as string)))).reduce((a, b) => a + b) <= ROOMS,
      'the surviving servers to hold one consumer per room', 25_000, POLL_MS);
  }, 120_000);
});
