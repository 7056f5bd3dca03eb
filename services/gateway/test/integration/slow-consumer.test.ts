import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@parley/protocol';
import { createTestKeys, join, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';

/** Far above what the test sends per second: the rate limit must not be what stops it. */
const LIM = { messagesPerSecond: 100_000, burst: 100_000, maxFrameBytes: 16 * 1024 };
const BIG = 'x'.repeat(15_000);

/**
 * A client that stops reading: once its socket holds more than the gateway's backpressure limit,
 * it is closed with 4002 and counted, whether the frames came through a room's native fan-out or
 * as direct messages sent to it one by one. Nothing is skipped while it stays open.
 */
describe('gateway - slow consumers', () => {
  let keys: TestKeys;
  let gw: TestGateway;

  beforeAll(async () => {
    keys = await createTestKeys();
    gw = await startTestGateway(keys, { maxBackpressureBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await gw?.gateway.close();
  });

  const slowConsumerCloses = async () => {
    const text = await gw.registry.metrics();
    return text
      .split('\n')
      .filter((l) => l.startsWith('parley_gateway_slow_consumer_closes_total'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  };

  for (const path of ['direct', 'room'] as const) {
    it(`slow consumer - a client that stops reading ${path === 'direct' ? 'direct messages' : 'a room'} is closed with 4002 and counted; the sender goes on`, async () => {
      const before = await slowConsumerCloses();
      const slow = await join(gw.wsUrl, await mintToken(keys, { sub: `slow-${path}`, lim: LIM }), [`room-${path}`]);
      const sender = await join(gw.wsUrl, await mintToken(keys, { sub: `sender-${path}`, lim: LIM }), []);
      slow.ws.pause();
      let sent = 0;
      while ((await slowConsumerCloses()) === before && sent < 5000) {
        const frame = path === 'direct' ? { type: 'direct', to: `slow-${path}`, data: BIG } : { type: 'publish', room: `room-${path}`, data: BIG };
        expect((await sender.request(frame)).type).toBe('ack');
        sent++;
      }
      expect(await slowConsumerCloses()).toBe(before + 1);
      slow.ws.resume();
      const { code } = await slow.closed;
      expect(code).toBe(CLOSE_CODES.slow_consumer);
      // Every frame it did get arrived in order, none skipped in between.
      const got = slow.frames.filter((f) => f.type === (path === 'direct' ? 'direct' : 'message'));
      expect(got.length).toBeGreaterThan(0);
      expect(got.length).toBeLessThan(sent);
      expect(sender.isClosed).toBe(false);
      expect((await sender.request({ type: 'ping' })).type).toBe('pong');
      sender.close();
    }, 60_000);
  }
});
