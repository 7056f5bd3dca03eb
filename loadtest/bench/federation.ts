import { mintUserToken, startRegions, wsUrl } from '@parley/cluster';
import { connectClient, type TestClient } from '@parley/testkit';

/**
 * `npm run bench:federation`: two regions on loopback, joined by a Toxiproxy link delayed
 * LINK_DELAY_MS each way. (1) Delivery latency of a publisher in region b to a member in region a
 * (crossing the link) and to a member in region b, paced; the cross-region figure is also given
 * with the link's delay subtracted. (2) Fan-out: members of one room in one region, then split
 * over two, one publisher at a fixed window; messages delivered per second. Prints a Markdown
 * table for docs/benchmarks.md.
 */
const LINK_DELAY_MS = Number(process.env.PARLEY_BENCH_LINK_DELAY_MS ?? 20);
const MESSAGES = Number(process.env.PARLEY_BENCH_MESSAGES ?? 2000);
const RATE = 200;
const MEMBERS = Number(process.env.PARLEY_BENCH_MEMBERS ?? 200);
const FANOUT_SECONDS = 10;
const WINDOW = 16;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const log = (line: string) => process.stderr.write(`[bench:federation] ${line}\n`);

const federation = await startRegions({ regions: 2, gateways: 1, linkLatencyMs: LINK_DELAY_MS });
const [a, b] = federation.regions.map((r) => r.cluster) as [NonNullable<(typeof federation.regions)[0]>['cluster'], NonNullable<(typeof federation.regions)[0]>['cluster']];
const clients: TestClient[] = [];
// A tenant whose per-connection rate does not cap the publisher (the default is for chat users).
const adminPost = (path: string, body?: unknown) =>
  fetch(`${a.auth.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${a.adminToken}`, 'content-type': 'application/json' }, ...(body !== undefined && { body: JSON.stringify(body) }) });
if ((await adminPost('/v1/admin/tenants', { ns: 'bench', settings: { messagesPerSecond: 10_000 } })).status !== 201) throw new Error('could not create the bench tenant');
const apiKey = ((await (await adminPost('/v1/admin/tenants/bench/keys')).json()) as { key: string }).key;
const join = async (cluster: typeof a, user: string, room: string) => {
  const client = await connectClient(wsUrl(cluster.gateways[0]!), { token: await mintUserToken(cluster, user, { apiKey }) });
  clients.push(client);
  await client.waitFor('welcome');
  await client.request({ type: 'join', room });
  return client;
};
try {
  log(`latency: ${MESSAGES} messages at ${RATE}/s from region b, link delay ${LINK_DELAY_MS} ms each way`);
  const inA = await join(a, 'far', 'latency');
  const inB = await join(b, 'near', 'latency');
  const publisher = await join(b, 'publisher', 'latency');
  await new Promise((r) => setTimeout(r, 1000));
  const sentAt = new Map<string, number>();
  const far: number[] = [];
  const near: number[] = [];
  for (const [client, into] of [[inA, far], [inB, near]] as const) {
    client.ws.on('message', (raw: Buffer) => {
      const at = performance.now();
      const frame = JSON.parse(raw.toString()) as { type: string; data?: unknown };
      if (frame.type === 'message' && typeof frame.data === 'string' && sentAt.has(frame.data)) into.push(at - sentAt.get(frame.data)!);
    });
  }
  for (let i = 0; i < MESSAGES; i++) {
    const data = `m${i}`;
    sentAt.set(data, performance.now());
    publisher.send({ type: 'publish', room: 'latency', data });
    await new Promise((r) => setTimeout(r, 1000 / RATE));
  }
  await new Promise((r) => setTimeout(r, 2000));
  const sortedFar = far.sort((x, y) => x - y);
  const sortedNear = near.sort((x, y) => x - y);

  const fanout = async (label: string, split: boolean) => {
    const room = `fanout-${label}`;
    for (let i = 0; i < MEMBERS; i++) await join(split && i % 2 === 1 ? b : a, `m${i}`, room);
    const sender = await join(a, `sender-${label}`, room);
    await new Promise((r) => setTimeout(r, 1000));
    let delivered = 0;
    const members = clients.slice(-MEMBERS - 1, -1);
    for (const m of members) m.ws.on('message', (raw: Buffer) => raw.includes('"type":"message"') && delivered++);
    const until = performance.now() + FANOUT_SECONDS * 1000;
    const workers = Array.from({ length: WINDOW }, async () => {
      while (performance.now() < until) await sender.request({ type: 'publish', room, data: 'x'.repeat(64) }, 30_000);
    });
    const start = performance.now();
    await Promise.all(workers);
    const seconds = (performance.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
    return Math.round(delivered / seconds);
  };
  log(`fan-out: ${MEMBERS} members in region a, then ${MEMBERS / 2} in a and ${MEMBERS / 2} in b, ${FANOUT_SECONDS} s each`);
  const oneRegion = await fanout('one', false);
  const twoRegions = await fanout('two', true);

  const ms = (v: number) => v.toFixed(1);
  console.log(`| path | messages | p50 ms | p99 ms |
|---|---|---|---|
| publisher and member in region b | ${sortedNear.length} | ${ms(percentile(sortedNear, 50))} | ${ms(percentile(sortedNear, 99))} |
| publisher in b, member in a (across the link) | ${sortedFar.length} | ${ms(percentile(sortedFar, 50))} | ${ms(percentile(sortedFar, 99))} |
| the same, link delay (${LINK_DELAY_MS} ms) subtracted | ${sortedFar.length} | ${ms(percentile(sortedFar, 50) - LINK_DELAY_MS)} | ${ms(percentile(sortedFar, 99) - LINK_DELAY_MS)} |

| fan-out, ${MEMBERS} members, one publisher (window ${WINDOW}) | deliveries/s |
|---|---|
| every member in region a | ${oneRegion} |
| half in region a, half in region b | ${twoRegions} |`);
} finally {
  await Promise.allSettled(clients.map((c) => c.close()));
  await federation.stop();
}
