import { describe, expect, it } from 'vitest';
import { connectClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway } from '../support.ts';

describe('connections', () => {
  it('connections - frames sent before welcome are handled in order after it', async () => {
    const keys = await createTestKeys();
    const gw = await startTestGateway(keys);
    const c = await connectClient(gw.wsUrl, { token: await mintToken(keys, { sub: 'eager' }) });
    c.send({ type: 'join', room: 'early', id: 1 });
    c.send({ type: 'publish', room: 'early', data: 'first', id: 2 });
    expect((await c.waitFor('welcome')).user).toBe('eager');
    expect(await c.waitFor((f) => f.id === 1)).toMatchObject({ type: 'joined', room: 'early' });
    expect(await c.waitFor((f) => f.id === 2)).toMatchObject({ type: 'ack' });
    expect(await c.waitFor('message')).toMatchObject({ data: 'first' });
    expect(c.frames[0]!.type).toBe('welcome');
    await c.close();
    await gw.gateway.close();
  });

  it('connections - under connection churn and a steady publish flood, no fresh connection is dropped', async () => {
    const keys = await createTestKeys();
    const gw = await startTestGateway(keys);
    const publisher = await join(gw.wsUrl, await mintToken(keys, { sub: 'pub', lim: { messagesPerSecond: 1e6, burst: 1e6 } }));
    let running = true;
    const flood = (async () => {
      for (let i = 0; running; i++) {
        publisher.send({ type: 'publish', room: `r${i % 3}`, data: i });
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async (_, worker) => {
        for (let i = 0; i < 40; i++) {
          const c = await join(gw.wsUrl, await mintToken(keys, { sub: `reader${worker}` }));
          const reply = await c.request({ type: 'join', room: `r${i % 3}` }, 5000).catch((e: Error) => ({ type: e.message }));
          if (reply.type !== 'joined') failures.push(reply.type);
          await c.close();
        }
      }),
    );
    running = false;
    await flood;
    await publisher.close();
    await gw.gateway.close();
    expect(failures).toEqual([]);
  }, 60_000);
});
