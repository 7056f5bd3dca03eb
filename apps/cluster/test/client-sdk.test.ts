import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ParleyClient, type RoomMessage, type StateChange, type WebSocketConstructor, type WebSocketLike } from '@parley/client';
import { mintUserToken, startCluster, wsUrl, type Cluster } from '../src/index.ts';

/**
 * The SDK against the real cluster (three gateway processes, NATS with JetStream, Redis): clients
 * spread over the gateways keep every acknowledged message exactly once and in order while one
 * gateway is SIGKILLed; a publish whose ack was lost is stored once; short-lived tokens are
 * refreshed on the live socket; a revoked user stops with 4102.
 */
let cluster: Cluster;
const clients: ParleyClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ gateways: 3, jetstream: true, env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '100' } });
  const res = await fetch(`${cluster.auth.url}/v1/admin/tenants/${cluster.demoNamespace}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ settings: { history: { enabled: true }, messagesPerSecond: 1000, burst: 1000 } }),
  });
  expect(res.status).toBe(200);
}, 90_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

async function until(check: () => boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The gateway URLs starting at the i-th, so clients spread and fail over differently. */
const urlsFrom = (i: number) => cluster.gateways.map((_, k) => wsUrl(cluster.gateways[(i + k) % cluster.gateways.length]!));

/** Node's WebSocket, recording the publish ids sent (a pid sent twice was retried). */
function recordingSocket(sentPids: Map<string, number>, options: { loseFirstAck?: boolean } = {}): WebSocketConstructor {
  let loseAck = options.loseFirstAck === true;
  return class extends WebSocket {
    constructor(url: string, protocols: string[]) {
      super(url, protocols);
      const original = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage')!;
      // Fault injection: the first ack is dropped and the connection cut, as if the network lost it.
      Object.defineProperty(this, 'onmessage', {
        set: (handler: ((e: MessageEvent) => void) | null) =>
          original.set!.call(this, handler && ((e: MessageEvent) => {
            if (loseAck && String(e.data).includes('"type":"ack"')) {
              loseAck = false;
              this.close(4000, 'lost the ack');
              return;
            }
            handler(e);
          })),
        get: () => original.get!.call(this),
      });
    }
    override send(data: string) {
      const frame = JSON.parse(data) as { type: string; pid?: string };
      if (frame.type === 'publish' && frame.pid) sentPids.set(frame.pid, (sentPids.get(frame.pid) ?? 0) + 1);
      super.send(data);
    }
  } as unknown as WebSocketConstructor;
}

function sdkClient(user: string, i: number, extra: Partial<Parameters<typeof createClient>[0]> = {}) {
  const client = createClient({ urls: urlsFrom(i), getToken: () => mintUserToken(cluster, user), reconnect: { baseMs: 100, capMs: 1000 }, ...extra });
  clients.push(client);
  return client;
}

describe('@parley/client on the cluster', () => {
  it('sdk cluster - subscribers spread over 3 gateways get every acked message exactly once in order while a gateway is SIGKILLed; retried publishes appear once', async () => {
    const ROOM = 'sdk-kill';
    const received = new Map<string, RoomMessage[]>();
    const subscribers = Array.from({ length: 6 }, (_, i) => {
      const client = sdkClient(`sub-${i}`, i);
      const list: RoomMessage[] = [];
      received.set(`sub-${i}`, list);
      client.room(ROOM).on('message', (m) => list.push(m));
      return client;
    });
    await Promise.all(subscribers.map((c) => c.room(ROOM).join()));

    const sentPids = new Map<string, number>();
    const acked: Array<{ msgId: string; seq: number; data: string }> = [];
    const refused: string[] = [];
    const publishers = Array.from({ length: 3 }, (_, i) => sdkClient(`pub-${i}`, i, { WebSocket: recordingSocket(sentPids) }));
    const inFlight: Array<Promise<void>> = [];
    const started = Date.now();
    let n = 0;
    let killed = false;
    while (Date.now() - started < 16_000) {
      for (const [p, client] of publishers.entries()) {
        const data = `p${p}-${n}`;
        inFlight.push(
          client.room(ROOM).publish(data).then(
            (ack) => void acked.push({ msgId: ack.msgId, seq: ack.seq as number, data }),
            (error: { code: string }) => void refused.push(`${data}: ${error.code}`),
          ),
        );
      }
      n++;
      if (!killed && Date.now() - started > 6_000) {
        killed = true;
        await cluster.gateways[1]!.stop('SIGKILL');
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(inFlight);
    const retried = [...sentPids.values()].filter((count) => count > 1).length;
    console.log(`[sdk cluster] ${acked.length} acked, ${refused.length} refused (${refused.slice(0, 3).join(', ')}), ${retried} publishes resent after the kill`);
    expect(acked.length).toBeGreaterThan(1000);
    const maxSeq = Math.max(...acked.map((a) => a.seq));
    await until(() => subscribers.every((c) => (c.room(ROOM).lastSeq ?? 0) >= maxSeq), 'every subscriber to catch up');
    const ackedIds = new Set(acked.map((a) => a.msgId));
    for (const [user, list] of received) {
      const seqs = list.map((m) => m.seq as number);
      expect(seqs.every((s, k) => k === 0 || s > (seqs[k - 1] as number)), `${user}: in seq order, no repeat`).toBe(true);
      expect(new Set(list.map((m) => m.msgId)).size, `${user}: no msgId twice`).toBe(list.length);
      const got = new Set(list.map((m) => m.msgId));
      expect([...ackedIds].filter((id) => !got.has(id)), `${user}: every acked message`).toEqual([]);
      // Each published text appears at most once, retried or not.
      expect(new Set(list.map((m) => m.data)).size, `${user}: each publish once`).toBe(list.length);
    }
  }, 120_000);

  it('sdk cluster - a publish whose ack was lost is resent with its pid after the reconnect and stored once', async () => {
    const ROOM = 'sdk-lost-ack';
    const reader = sdkClient('lost-reader', 0);
    const got: RoomMessage[] = [];
    reader.room(ROOM).on('message', (m) => got.push(m));
    await reader.room(ROOM).join();
    const sentPids = new Map<string, number>();
    const writer = sdkClient('lost-writer', 0, { WebSocket: recordingSocket(sentPids, { loseFirstAck: true }) });
    const ack = await writer.room(ROOM).publish('only once');
    const next = await writer.room(ROOM).publish('after');
    expect([...sentPids.values()]).toEqual([2, 1]);
    await until(() => got.some((m) => m.msgId === next.msgId), 'the second message');
    expect(got.map((m) => m.data)).toEqual(['only once', 'after']);
    expect(got[0]).toMatchObject({ msgId: ack.msgId, seq: ack.seq });
    const stored = await reader.room(ROOM).history();
    expect(stored.messages.map((m) => m.data)).toEqual(['only once', 'after']);
  }, 60_000);

  it('sdk cluster - 5 s tokens are refreshed on the live socket for 30 s; revoking the user stops the client with 4102', async () => {
    let minted = 0;
    const user = 'short-lived';
    const client = sdkClient(user, 2, { getToken: () => (minted++, mintUserToken(cluster, user, { ttlSeconds: 5 })) });
    const states: StateChange[] = [];
    client.on('state', (s) => states.push(s));
    const room = client.room('refresh');
    await room.join();
    const started = Date.now();
    let acks = 0;
    while (Date.now() - started < 30_000) {
      await room.publish({ at: Date.now() - started });
      acks++;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(states.map((s) => s.state)).toEqual(['connected']); // and never left it
    expect(client.state).toBe('connected');
    expect(minted).toBeGreaterThanOrEqual(10);
    expect(acks).toBeGreaterThanOrEqual(25);
    const res = await fetch(`${cluster.auth.url}/v1/users/${user}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${cluster.demoApiKey}` } });
    expect(res.status).toBe(202);
    await until(() => client.state === 'disconnected', 'the 41xx stop');
    expect(states.at(-1)?.error).toMatchObject({ code: 'token_revoked', temporary: false, closeCode: 4102 });
  }, 60_000);
});
