import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, type TestKeys } from '../support.ts';
import { publishMany, startHistoryBackend, type HistoryBackend } from '../history-support.ts';

describe.each(['jetstream', 'memory'] as const)('history before on %s', (backendName) => {
  let keys: TestKeys;
  let backend: HistoryBackend;
  let url: string;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    backend = await startHistoryBackend(backendName, keys);
    url = (await backend.gateway()).wsUrl;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await backend.stop();
  });

  it(`before (${backendName}) - pages backwards from the newest page to the oldest; after and before together are refused`, async () => {
    const client = await join(url, await mintToken(keys, { sub: 'pager', hist: true, lim: { messagesPerSecond: 10_000, burst: 10_000 } }));
    clients.push(client);
    const seqs = await publishMany(client, 'paged', 0, 12);
    await publishMany(client, 'elsewhere', 0, 5);
    const pages: number[][] = [];
    let page = await client.request({ type: 'history', room: 'paged', limit: 5 });
    pages.push(page.messages as never);
    while (page.more) {
      page = await client.request({ type: 'history', room: 'paged', limit: 5, before: page.first });
      pages.push(page.messages as never);
    }
    expect(pages.map((p) => (p as unknown as Array<{ seq: number }>).map((m) => m.seq))).toEqual([seqs.slice(7), seqs.slice(2, 7), seqs.slice(0, 2)]);
    const both = await client.request({ type: 'history', room: 'paged', after: 1, before: 5 });
    expect(both).toMatchObject({ type: 'error', code: 'bad_frame' });
  });
});
