// `npm run bench:webhooks`: how many webhook deliveries per second one dispatcher process sustains
// to a local receiver, and the latency from the room event on the bus to the receiver's
// request. Real nats-server with JetStream, the production dispatcher process, a node:http
// receiver answering 204, room events published on the bus as gateways publish them.
// Writes loadtest/results/webhooks-<time>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { productionCommand, ServiceProcess } from '@parley/cluster';
import { encodeRoomEvents, joinEvents, subjects } from '@parley/protocol';
import { freePort, startNats } from '@parley/testkit';
import { createKvEndpointStore, newEndpoint } from '@parley/webhooks';
import { RESULTS_DIR } from '../src/report.ts';
import { machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    rooms: { type: 'string', default: '500' },
    /** Events published per second (0: as fast as the bus takes them). */
    rate: { type: 'string', default: '0' },
  },
});
const events = Number(values.events);
const rooms = Number(values.rooms);
const rate = Number(values.rate);

const nats = await startNats({ jetstream: true });
const published = new Map<string, number>();
const latencies: number[] = [];
let firstAt = 0;
let lastAt = 0;
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk));
  req.on('end', () => {
    const now = performance.now();
    const user = (JSON.parse(body) as { data: { user: string } }).data.user;
    const sent = published.get(user);
    if (sent !== undefined) {
      latencies.push(now - sent);
      published.delete(user);
    }
    if (!firstAt) firstAt = now;
    lastAt = now;
    res.writeHead(204).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;

const nc = await connect({ servers: nats.url });
const endpoints = await createKvEndpointStore(nc);
await endpoints.put(newEndpoint('bench', { url: receiverUrl, events: ['member.joined'], enabled: true }));

const port = await freePort();
const dispatcher = new ServiceProcess({
  name: 'webhooks',
  args: productionCommand('webhooks'),
  url: `http://127.0.0.1:${port}`,
  output: 'inherit',
  env: { NATS_URL: nats.url, PORT: String(port), HOST: '127.0.0.1', PARLEY_WEBHOOKS_ALLOW_HTTP: 'true', PARLEY_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: 'true', PARLEY_LOG_LEVEL: 'warn' },
});
await dispatcher.start();

console.log(`[bench:webhooks] ${events} member.joined events over ${rooms} rooms${rate ? ` at ${rate}/s` : ', as fast as the bus takes them'}`);
const started = performance.now();
for (let i = 0; i < events; i++) {
  const user = `u${i}`;
  const room = `room-${i % rooms}`;
  published.set(user, performance.now());
  nc.publish(subjects.roomEvents('bench', room), encodeRoomEvents(joinEvents(room, user, { room: false, tenant: false })));
  if (rate) {
    const due = started + ((i + 1) * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  } else if (i % 1000 === 999) await nc.flush();
}
await nc.flush();
const publishedIn = performance.now() - started;
const deadline = Date.now() + 120_000;
let lastReport = Date.now();
while (latencies.length < events && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 100));
  if (Date.now() - lastReport > 5000) {
    lastReport = Date.now();
    console.log(`[bench:webhooks] ${latencies.length}/${events} delivered`);
  }
}
const elapsed = lastAt - started;
latencies.sort((a, b) => a - b);
const pct = (p: number) => Number((latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN).toFixed(1));
const report = {
  machine: await machineInfo(),
  events,
  rooms,
  rate: rate || 'unbounded',
  delivered: latencies.length,
  publishedInMs: Math.round(publishedIn),
  deliveriesPerSecond: Math.round((latencies.length / elapsed) * 1000),
  latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: pct(100) },
};
console.log(`[bench:webhooks] delivered ${report.delivered}/${events} in ${(elapsed / 1000).toFixed(1)} s: ${report.deliveriesPerSecond} deliveries/s; latency p50 ${report.latencyMs.p50} ms, p99 ${report.latencyMs.p99} ms`);
mkdirSync(RESULTS_DIR, { recursive: true });
const file = join(RESULTS_DIR, `webhooks-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(`[bench:webhooks] wrote ${file}`);

await dispatcher.stop('SIGTERM');
await nc.close();
receiver.close();
await nats.cleanup();
process.exit(report.delivered === events ? 0 : 1);
