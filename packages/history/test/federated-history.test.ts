import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { ParleyError } from '@parley/protocol';
import { createNatsBus, type NatsBus } from '@parley/bus/nats';
import { freePort, startNats, type NatsProcess } from '@parley/testkit';
import { DEFAULT_HISTORY_RETENTION, type HistoryStore } from '../src/index.ts';
import { createJetStreamHistoryStore, streamName } from '../src/jetstream.ts';

/**
 * Two regions' NATS servers, each its own JetStream domain, joined by a leaf node link: region
 * a holds the tenant streams, region b mirrors them (docs/architecture.md, "Federation").
 */
const tenant = { ns: 'fed', retention: DEFAULT_HISTORY_RETENTION, version: 1 };
const encode = (text: string) => new TextEncoder().encode(JSON.stringify({ type: 'message', room: 'r', data: text }));
const decode = (data: Uint8Array) => (JSON.parse(new TextDecoder().decode(data)) as { data: string }).data;

let hub: NatsProcess;
let leaf: NatsProcess;
let busA: NatsBus;
let busB: NatsBus;
let a: HistoryStore;
let b: HistoryStore;

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const leafLinks = async (server: NatsProcess) => ((await (await fetch(`${server.monitorUrl}/leafz`)).json()) as { leafnodes?: number }).leafnodes ?? 0;
const mirrored = async (ns: string, room: string) => (await b.after(ns, room, 0, 100)).messages;

beforeAll(async () => {
  const leafPort = await freePort();
  hub = await startNats({ jetstream: true, monitor: true, jetstreamDomain: 'a', leafnodes: { listen: { host: '127.0.0.1', port: leafPort } } });
  leaf = await startNats({ jetstream: true, monitor: true, jetstreamDomain: 'b', leafnodes: { remotes: [{ url: `nats-leaf://127.0.0.1:${leafPort}` }] } });
  await until(async () => (await leafLinks(hub)) === 1, 'the leaf node link');
  busA = await createNatsBus({ servers: hub.url, name: 'history-a', connectTimeoutMs: 5_000 });
  busB = await createNatsBus({ servers: leaf.url, name: 'history-b', connectTimeoutMs: 5_000 });
  a = createJetStreamHistoryStore(busA.raw, { federation: { region: 'a', historyRegion: 'a' } });
  b = createJetStreamHistoryStore(busB.raw, { federation: { region: 'b', historyRegion: 'a' }, requestTimeoutMs: 1_000 });
});

afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  await Promise.allSettled([busA?.close(), busB?.close()]);
  await Promise.allSettled([leaf?.cleanup(), hub?.cleanup()]);
});

describe('federated history: one origin stream, mirrors elsewhere', () => {
  it('federated history - appends from either region are stored once, in the history region, and mirrored with the same seqs', async () => {
    await b.ensure(tenant);
    await a.ensure(tenant);
    const fromB = await b.append('fed', 'r', encode('from b'), { msgId: 'm-b-1' });
    const fromA = await a.append('fed', 'r', encode('from a'), { msgId: 'm-a-1' });
    // A retry of b's publish (same id) is deduplicated by the origin and answers the same seq.
    expect(await b.append('fed', 'r', encode('from b'), { msgId: 'm-b-1' })).toBe(fromB);
    expect(fromA).toBeGreaterThan(fromB);
    const origin = await (await jetstreamManager(busA.raw)).streams.info(streamName('fed'));
    expect(origin.state.messages).toBe(2);
    const mirror = await (await jetstreamManager(busB.raw)).streams.info(streamName('fed'));
    expect(mirror.config.mirror?.name).toBe(streamName('fed'));
    expect(mirror.config.subjects ?? []).toEqual([]);
    await until(async () => (await mirrored('fed', 'r')).length === 2, 'the mirror holds both');
    expect((await mirrored('fed', 'r')).map((m) => [m.seq, decode(m.data)])).toEqual([
      [fromB, 'from b'],
      [fromA, 'from a'],
    ]);
    // A feed in region b follows the mirror.
    const seen: number[] = [];
    const follower = await b.follow('fed', 'r', fromA, { message: (m) => void seen.push(m.seq), error: () => {} });
    const next = await a.append('fed', 'r', encode('live'), { msgId: 'm-a-2' });
    await until(async () => seen.includes(next), 'the feed in region b delivers');
    follower.stop();
  });

  it('federated history - a since beyond a lagging mirror is no gap; beyond the origin it is', async () => {
    const last = (await a.position('fed'));
    await until(async () => (await b.position('fed')) === last, 'the mirror catches up');
    expect((await b.checkResume('fed', 'r', last)).gap).toBe(false);
    expect((await b.checkResume('fed', 'r', last + 5)).gap).toBe(true);
  });

  it('federated history - a deletion erases the message in the origin and in every mirror', async () => {
    const seq = await b.append('fed', 'gone', encode('secret'), { msgId: 'm-del' });
    await until(async () => (await mirrored('fed', 'gone')).length === 1, 'mirrored');
    expect(await a.delete('fed', 'gone', seq)).toBe(true);
    expect((await a.after('fed', 'gone', 0, 10)).messages).toEqual([]);
    await until(async () => (await mirrored('fed', 'gone')).length === 0, 'erased from the mirror');
  });

  it('federated history - without the history region, region b reads its mirror and refuses appends with history_unavailable', async () => {
    await hub.stop();
    await until(async () => (await leafLinks(leaf)) === 0, 'the link is down');
    const started = Date.now();
    const refused = await b.append('fed', 'r', encode('while a is gone'), { msgId: 'm-cut' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ParleyError);
    expect((refused as ParleyError).code).toBe('history_unavailable');
    expect((refused as ParleyError).message).toMatch(/region a/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await b.after('fed', 'r', 0, 100)).messages.length).toBe(3);
    // Unreachable, the origin cannot say whether `since` is beyond it: taken as lag, not a gap.
    expect((await b.checkResume('fed', 'r', (await b.position('fed')) + 3)).gap).toBe(false);
    expect(b.health().ok).toBe(true);

    await hub.restart();
    await until(async () => (await leafLinks(hub)) === 1, 'the link is back', 20_000);
    await until(async () => b.append('fed', 'r', encode('after'), { msgId: 'm-after' }).then(() => true, () => false), 'appends from b work again', 20_000);
  }, 60_000);
});
