import { Counter, Histogram } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry, parseExposition, seriesNames, sumSamples, withoutTenantLabels } from '../src/index.ts';

describe('exposition', () => {
  it('exposition - parses prom-client output: labels with escapes, histograms and default metrics', async () => {
    const registry = createMetricsRegistry('gateway');
    const c = new Counter({ name: 'parley_test_total', help: 'h', labelNames: ['code', 'tenant'], registers: [registry] });
    c.inc({ code: 'rate_limited', tenant: 'a"b\\c' }, 2);
    c.inc({ code: 'forbidden', tenant: 'x' });
    const h = new Histogram({ name: 'parley_test_seconds', help: 'h', buckets: [0.1, 1], registers: [registry] });
    h.observe(0.5);
    const m = parseExposition(await registry.metrics());
    expect(sumSamples(m, 'parley_test_total')).toBe(3);
    expect(sumSamples(m, 'parley_test_total', { tenant: 'a"b\\c' })).toBe(2);
    expect(sumSamples(m, 'parley_test_seconds_bucket', { le: '+Inf' })).toBe(1);
    expect(m.types.get('parley_test_seconds')).toBe('histogram');
    const names = seriesNames(m);
    for (const n of ['parley_test_seconds_count', 'parley_test_seconds_sum', 'parley_process_cpu_seconds_total', 'parley_nodejs_eventloop_lag_p99_seconds']) {
      expect(names.has(n), n).toBe(true);
    }
  });
});

describe('metrics without tenant names', () => {
  it('exposition - withoutTenantLabels removes the tenant label and adds up the series it separated', () => {
    const text = [
      '# HELP x_total x',
      '# TYPE x_total counter',
      'x_total{service="gateway",tenant="acme",kind="room"} 2',
      'x_total{service="gateway",tenant="globex",kind="room"} 3',
      'x_total{service="gateway",tenant="acme",kind="direct"} 1',
      '# HELP y y',
      '# TYPE y gauge',
      'y{tenant="a\\"b"} 4',
      'z 1',
    ].join('\n');
    expect(withoutTenantLabels(text).split('\n')).toEqual([
      '# HELP x_total x',
      '# TYPE x_total counter',
      'x_total{service="gateway",kind="room"} 5',
      'x_total{service="gateway",kind="direct"} 1',
      '# HELP y y',
      '# TYPE y gauge',
      'y 4',
      'z 1',
    ]);
  });
});
