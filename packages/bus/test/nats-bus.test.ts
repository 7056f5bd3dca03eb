import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParleyError } from '@parley/protocol';
import { freePort, startNats, startNatsCluster, waitForNatsSubscriptions, natsSubscriptionCount, type NatsCluster, type NatsProcess } from '@parley/testkit';
import type { Bus, BusMessage, BusState } from '../src/index.ts';
import { createNatsBus, type NatsBus, type NatsBusOptions } from '../src/nats.ts';
import { runBusContract } from './bus-contract.ts';

/** Fast reconnects keep the fault tests short; production defaults are slower and jittered. */
const FAST: Partial<NatsBusOptions> = { reconnectWaitMs: 50, reconnectJitterMs: 50, connectTimeoutMs: 5_000 };

function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

/**
 * A TCP relay in front of a server, in its own process (in this one, it would read only when the
 * test yields, and see every write of a turn as one chunk), that reports how many chunks it has
 * read from the client side.
 */
async function startCountingRelay(target: string) {
  const script = `
    const net = require('node:net');
    const [host, port] = process.argv[1].split(':');
    let chunks = 0;
    const server = net.createServer((client) => {
      const upstream = net.createConnection({ host, port: Number(port) });
      client.on('data', (chunk) => { upstream.write(chunk); process.stdout.write((++chunks) + '\\n'); });
      upstream.pipe(client);
      for (const [a, b] of [[client, upstream], [upstream, client]]) { a.on('error', () => b.destroy()); a.on('close', () => b.destroy()); }
    });
    server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', script, new URL(target).host], { stdio: ['ignore', 'pipe', 'inherit'] });
  const counts = { fromClient: 0 };
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`relay exited (${code})`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('port ')) resolve(Number(line.slice(5)));
      else counts.fromClient = Number(line);
    });
  });
  return { url: `nats://127.0.0.1:${port}`, counts, close: () => void child.kill() };
}

const waitForState = (bus: Bus, state: BusState, timeoutMs?: number) => waitFor(() => bus.state === state, `state ${state}`, timeoutMs);

runBusContract('nats', async () => {
  const server = await startNats();
  const buses: NatsBus[] = [];
  return {
    async connect(name) {
      const bus = await createNatsBus({ servers: server.url, name, ...FAST });
      buses.push(bus);
      return bus;
    },
    sync: async (bus) => (bus as NatsBus).raw.flush(),
    async outage() {
      await server.stop();
      await Promise.all(buses.map((bus) => waitFor(() => bus.state !== 'connected', 'disconnect')));
    },
    async recover() {
      await server.restart();
      await Promise.all(buses.map((bus) => waitForState(bus, 'connected')));
    },
    async teardown() {
      await Promise.all(buses.map((bus) => bus.close()));
      await server.cleanup();
    },
  };
});

describe('nats bus', () => {
  let server: NatsProcess;
  const buses: NatsBus[] = [];
  const open = async (name: string, extra: Partial<NatsBusOptions> = {}) => {
    const bus = await createNatsBus({ servers: server.url, name, ...FAST, ...extra });
    buses.push(bus);
    return bus;
  };

  beforeAll(async () => {
    server = await startNats({ monitor: true });
  });
  afterAll(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    await server?.cleanup();
  });

  it('nats bus - startup throws unavailable after connectTimeoutMs when nothing listens, without leaking URL credentials', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await createNatsBus({ servers: `nats://parley:s3cret@127.0.0.1:${port}`, name: 'nobody', connectTimeoutMs: 300, reconnectWaitMs: 50, reconnectJitterMs: 10 }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ParleyError);
    expect((error as ParleyError).code).toBe('unavailable');
    expect((error as Error).message).not.toContain('s3cret');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('nats bus - startup waits for a server that comes up within connectTimeoutMs', async () => {
    const port = await freePort();
    const connecting = createNatsBus({ servers: `nats://127.0.0.1:${port}`, name: 'early', ...FAST });
    const late = await startNats({ port });
    try {
      const bus = await connecting;
      expect(bus.state).toBe('connected');
      await bus.close();
    } finally {
      await late.cleanup();
    }
  });

  it('nats bus - publishes of one tick are confirmed by one flush round trip', async () => {
    const bus = await open('batcher');
    const before = bus.stats().flushes;
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => bus.publish('batch.test', new Uint8Array([i & 0xff]))));
    expect(bus.stats().flushes - before).toBe(1);
    expect(bus.stats().published).toBeGreaterThanOrEqual(1_000);
  });

  it('nats bus - publishes made one by one in a turn of the event loop reach the server in one write, in order', async () => {
    const relay = await startCountingRelay(server.url);
    // Not in `buses`: closed here, with its relay.
    const sender = await createNatsBus({ servers: relay.url, name: 'one-write', ...FAST });
    try {
      const receiver = await open('one-write-receiver');
      const got: number[] = [];
      receiver.subscribe('turn.test', (m) => got.push(m.data[0]!));
      await Promise.all([receiver.raw.flush(), sender.flush()]);
      const before = relay.counts.fromClient;
      const confirmations: Promise<void>[] = [];
      for (let i = 0; i < 200; i++) {
        confirmations.push(sender.publish('turn.test', Uint8Array.of(i)));
        // uWebSockets.js hands each frame to JavaScript on its own, with a microtask checkpoint after
        // it, where the client would write what it has: one write per publish without the queue.
        await null;
      }
      await Promise.all(confirmations);
      await waitFor(() => got.length === 200, '200 messages');
      // The 200 publishes and the PING that confirms them: one write, which TCP may split.
      expect(relay.counts.fromClient - before).toBeLessThanOrEqual(3);
      expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i));
    } finally {
      await sender.close();
      relay.close();
    }
  });

  it('nats bus - a payload over the server max_payload rejects with frame_too_large', async () => {
    const bus = await open('big');
    const error = await bus.publish('big.test', new Uint8Array(2 * 1024 * 1024)).catch((err: unknown) => err);
    expect((error as ParleyError).code).toBe('frame_too_large');
    await bus.publish('big.test', new Uint8Array(10));
  });

  it('nats bus - the server sees exactly the live subscriptions, also after a reconnect', async () => {
    const monitorUrl = server.monitorUrl as string;
    const bus = await open('gw-accounting');
    const subs = ['chat.acme.a', 'chat.acme.b', 'user.acme.c'].map((s) => bus.subscribe(s, () => {}));
    await waitForNatsSubscriptions(monitorUrl, 'gw-accounting', (list) => list.length === 3);
    subs[0]?.unsubscribe();
    subs[1]?.unsubscribe();
    const left = await waitForNatsSubscriptions(monitorUrl, 'gw-accounting', (list) => list.length === 1);
    expect(left).toEqual(['user.acme.c']);
    expect(bus.subscriptionCount()).toBe(1);

    await server.stop();
    await waitForState(bus, 'reconnecting');
    await server.restart();
    await waitForState(bus, 'connected');
    // The client re-sent its SUB by itself; `connected` implies the server has processed it.
    expect(await natsSubscriptionCount(monitorUrl, 'gw-accounting')).toBe(1);
    // Every other connection of this suite also reconnected; wait so later tests start connected.
    await Promise.all(buses.map((b) => waitForState(b, 'connected')));
  });

  it('nats bus - close drains publishes not yet confirmed', async () => {
    const sender = await open('closer');
    const receiver = await open('receiver');
    const got: BusMessage[] = [];
    receiver.subscribe('drain.test', (m) => got.push(m));
    await receiver.raw.flush();
    const publishes = Array.from({ length: 100 }, (_, i) => sender.publish('drain.test', new Uint8Array([i])));
    await sender.close();
    await Promise.all(publishes);
    await waitFor(() => got.length === 100, '100 messages');
    expect(got.map((m) => m.data[0])).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('nats bus on a cluster', () => {
  let cluster: NatsCluster;
  const buses: NatsBus[] = [];

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  });
  afterAll(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    await cluster?.stop();
  });

  /** Publishes until `got` grows (route interest propagates asynchronously), then returns. */
  async function deliverAcross(from: Bus, subject: string, got: BusMessage[], timeoutMs = 10_000) {
    const before = got.length;
    const deadline = Date.now() + timeoutMs;
    while (got.length === before) {
      if (Date.now() > deadline) throw new Error(`nothing delivered on ${subject} after ${timeoutMs} ms`);
      await from.publish(subject, new TextEncoder().encode('ping'));
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('nats bus - cluster: the server under a bus dies, the bus fails over and delivery continues both ways', async () => {
    const a = await createNatsBus({ servers: cluster.urls, name: 'node-a', ...FAST });
    buses.push(a);
    const serverA = cluster.serverOf(a.raw.getServer());
    expect(serverA).toBeDefined();
    const other = cluster.servers.find((s) => s !== serverA) as NatsProcess;
    const b = await createNatsBus({ servers: other.url, name: 'node-b', ...FAST });
    buses.push(b);
    const toA: BusMessage[] = [];
    const toB: BusMessage[] = [];
    a.subscribe('chat.acme.cluster-a', (m) => toA.push(m));
    b.subscribe('chat.acme.cluster-b', (m) => toB.push(m));
    await Promise.all([a.raw.flush(), b.raw.flush()]);
    await deliverAcross(a, 'chat.acme.cluster-b', toB);
    await deliverAcross(b, 'chat.acme.cluster-a', toA);

    const states: BusState[] = [];
    a.onStateChange((s) => states.push(s));
    await serverA?.stop();
    await waitFor(() => states.at(-1) === 'connected', 'a to fail over');
    expect(states[0]).toBe('reconnecting');
    expect(cluster.serverOf(a.raw.getServer())).not.toBe(serverA);
    expect(b.state).toBe('connected');

    await deliverAcross(a, 'chat.acme.cluster-b', toB);
    await deliverAcross(b, 'chat.acme.cluster-a', toA);
  });
});
