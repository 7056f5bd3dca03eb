import { describe, expect, it } from 'vitest';
import { HotCounter, createMetricsRegistry, parseExposition, sumSamples } from '../src/index.ts';

describe('HotCounter', () => {
  const setup = () => {
    const registry = createMetricsRegistry('test', { defaultMetrics: false });
    const published = new HotCounter({ name: 'test_published_total', help: 'published', labelNames: ['tenant', 'kind'], registers: [registry] });
    const scrape = async () => parseExposition(await registry.metrics());
    return { registry, published, scrape };
  };

  it('exposes every increment made before a scrape, per label set, and keeps counting after it', async () => {
    const { published, scrape } = setup();
    const acmeRoom = published.labels('acme', 'room');
    for (let i = 0; i < 1000; i++) acmeRoom.inc();
    published.labels('acme', 'direct').inc(5);
    published.labels('globex', 'room').inc();
    let samples = await scrape();
    expect(sumSamples(samples, 'test_published_total', { tenant: 'acme', kind: 'room' })).toBe(1000);
    expect(sumSamples(samples, 'test_published_total', { tenant: 'acme', kind: 'direct' })).toBe(5);
    expect(sumSamples(samples, 'test_published_total', { tenant: 'globex', kind: 'room' })).toBe(1);

    // The same cell for the same values; a second scrape adds only what came since.
    expect(published.labels('acme', 'room')).toBe(acmeRoom);
    acmeRoom.inc(2);
    samples = await scrape();
    expect(sumSamples(samples, 'test_published_total', { tenant: 'acme', kind: 'room' })).toBe(1002);
    samples = await scrape();
    expect(sumSamples(samples, 'test_published_total', { tenant: 'acme', kind: 'room' })).toBe(1002);
    expect(sumSamples(samples, 'test_published_total')).toBe(1008);
  });

  it('keeps label sets apart even when joined values would collide', async () => {
    const { published, scrape } = setup();
    published.labels('a', 'b\u0000c').inc();
    published.labels('a\u0000b', 'c').inc(2);
    const samples = await scrape();
    expect(sumSamples(samples, 'test_published_total', { tenant: 'a', kind: 'b\u0000c' })).toBe(1);
  });

  it('refuses the wrong number of label values', () => {
    const { published } = setup();
    expect(() => published.labels('acme')).toThrow(/takes 2 label values, got 1/);
  });
});
