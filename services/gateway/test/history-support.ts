import { createMemoryBus } from '@parley/bus';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { createMemoryHistoryStore, type HistoryStore } from '@parley/history';
import { createJetStreamHistoryStore } from '@parley/history/jetstream';
import { startNats, until, type NatsProcess, type TestClient, type TestClientFrame } from '@parley/testkit';
import { startTestGateway, type TestGateway, type TestKeys } from './support.ts';
import type { GatewayOptions } from '../src/index.ts';
import type { ModerationStore } from '@parley/moderation';

/**
 * Gateways with history for tests: `jetstream` runs each gateway on its own NATS connection with
 * its own JetStream store (as separate processes would); `memory` shares one in-memory bus and
 * store between the gateways of the process (the embedded default).
 */
export interface HistoryBackend {
  readonly name: 'jetstream' | 'memory';
  gateway(options?: Partial<GatewayOptions> & { moderation?: ModerationStore }): Promise<TestGateway & { history: HistoryStore }>;
  stop(): Promise<void>;
  /** The NATS server (jetstream only). */
  readonly nats?: NatsProcess;
}

export async function startHistoryBackend(name: 'jetstream' | 'memory', keys: TestKeys): Promise<HistoryBackend> {
  const gateways: TestGateway[] = [];
  const closers: Array<() => Promise<void>> = [];
  if (name === 'memory') {
    const bus = createMemoryBus();
    const history = createMemoryHistoryStore({ bus });
    return {
      name,
      async gateway(options = {}) {
        const gw = await startTestGateway(keys, { ...options, bus, history });
        gateways.push(gw);
        return { ...gw, history };
      },
      async stop() {
        await Promise.all(gateways.map((g) => g.gateway.close()));
        await history.close();
        await bus.close();
      },
    };
  }
  const nats = await startNats({ jetstream: true });
  return {
    name,
    nats,
    async gateway(options = {}) {
      const bus: NatsBus = await createNatsBus({ servers: nats.url, name: `gw-${gateways.length}`, connectTimeoutMs: 5_000 });
      const history = createJetStreamHistoryStore(bus.raw);
      const gw = await startTestGateway(keys, { ...options, bus, history });
      gateways.push(gw);
      closers.push(async () => {
        await history.close();
        await bus.close();
      });
      return { ...gw, history };
    },
    async stop() {
      await Promise.all(gateways.map((g) => g.gateway.close()));
      await Promise.all(closers.map((c) => c()));
      await nats.cleanup();
    },
  };
}

/** Room `message` frames a client received, in order. */
export function messagesOf(client: TestClient, room: string): TestClientFrame[] {
  return client.frames.filter((f) => f.type === 'message' && f.room === room);
}

export function seqsOf(client: TestClient, room: string): number[] {
  return messagesOf(client, room).map((f) => f.seq as number);
}

export { until };

let publishBatch = 0;

/**
 * Publishes `count` messages with data `{ i }` from `start`, and resolves with their acks' seqs in
 * publish order. Replies are matched by id in one pass (not one waiter per request).
 */
export async function publishMany(client: TestClient, room: string, start: number, count: number, timeoutMs = 30_000): Promise<number[]> {
  const prefix = `pm${++publishBatch}-`;
  for (let i = start; i < start + count; i++) client.send({ type: 'publish', id: `${prefix}${i}`, room, data: { i } });
  const replies = new Map<string, TestClientFrame>();
  let scanned = 0;
  await until(() => {
    for (; scanned < client.frames.length; scanned++) {
      const f = client.frames[scanned] as TestClientFrame;
      if (typeof f.id === 'string' && f.id.startsWith(prefix)) replies.set(f.id, f);
    }
    return replies.size === count || client.isClosed;
  }, `${count} publish replies`, timeoutMs);
  const seqs: number[] = [];
  for (let i = start; i < start + count; i++) {
    const reply = replies.get(`${prefix}${i}`);
    if (reply?.type !== 'ack') throw new Error(`publish ${i} refused: ${JSON.stringify(reply)} (closed: ${client.isClosed}; last frames ${JSON.stringify(client.frames.slice(-3))})`);
    seqs.push(reply.seq as number);
  }
  return seqs;
}
