import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DASHBOARDS = join(ROOT, 'deploy/helm/parley/dashboards');
const RULES = join(ROOT, 'deploy/helm/parley/rules');
const OPERATIONS = join(ROOT, 'docs/operations.md');

interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
}
interface Dashboard {
  uid?: string;
  title?: string;
  panels?: Panel[];
  templating?: { list?: Array<{ name?: string; type?: string; query?: unknown }> };
}
interface Rule {
  alert?: string;
  record?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const dashboards = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as Dashboard }));
const rules = readdirSync(RULES)
  .filter((f) => /\.ya?ml$/.test(f))
  .flatMap((file) => ((parseYaml(readFileSync(join(RULES, file), 'utf8')) as { groups?: Array<{ rules?: Rule[] }> }).groups ?? []).flatMap((g) => (g.rules ?? []).map((rule) => ({ file, rule }))));

/** PromQL syntax errors of `expr`, with Grafana's variables replaced by sample values first. */
function promqlErrors(expr: string): string[] {
  const query = expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replace(/\$\{?(\w+)\}?/g, 'x');
  const errors: string[] = [];
  parser.parse(query).iterate({
    enter(node) {
      if (node.type.isError) errors.push(`at ${node.from}: ${query.slice(Math.max(0, node.from - 20), node.to + 20)}`);
    },
  });
  return errors;
}

describe('dashboards and rules', () => {
  it('dashboards and rules - the four dashboards exist with stable, unique uids and a data source variable', () => {
    const uids = dashboards.map((d) => d.dashboard.uid);
    expect(uids.sort()).toEqual(['parley-bus-redis', 'parley-federation', 'parley-overview', 'parley-tenant']);
    for (const { file, dashboard } of dashboards) {
      const vars = dashboard.templating?.list ?? [];
      expect(vars.find((v) => v.name === 'datasource')?.type, file).toBe('datasource');
      const ids = (dashboard.panels ?? []).map((p) => p.id);
      expect(new Set(ids).size, `${file} panel ids`).toBe(ids.length);
      for (const panel of dashboard.panels ?? []) {
        if (panel.type === 'row') continue;
        expect(panel.datasource?.uid, `${file} ${panel.title}`).toBe('${datasource}');
        expect(panel.targets?.length, `${file} ${panel.title} has queries`).toBeGreaterThan(0);
        for (const t of panel.targets ?? []) expect(t.datasource?.uid ?? '${datasource}').toBe('${datasource}');
      }
    }
    const tenant = dashboards.find((d) => d.dashboard.uid === 'parley-tenant')?.dashboard;
    expect(tenant?.templating?.list?.find((v) => v.name === 'tenant')?.type).toBe('query');
  });

  it('dashboards and rules - every dashboard query is valid PromQL and per-tenant panels filter by tenant', () => {
    const bad: string[] = [];
    for (const { file, dashboard } of dashboards) {
      for (const panel of dashboard.panels ?? []) {
        for (const t of panel.targets ?? []) {
          for (const e of promqlErrors(t.expr ?? '')) bad.push(`${file} "${panel.title}": ${e}`);
          if (dashboard.uid === 'parley-tenant') expect(t.expr, `${panel.title}`).toContain('tenant=~"$tenant"');
        }
      }
    }
    expect(bad).toEqual([]);
    // The checker itself catches a broken query.
    expect(promqlErrors('sum(rate(parley_gateway_errors_total[5m])')).not.toEqual([]);
  });

  it('dashboards and rules - the alert rules are valid, named once, with a severity, a summary and a runbook entry', () => {
    const operations = readFileSync(OPERATIONS, 'utf8');
    const runbook = operations.slice(operations.indexOf('## Alerts and runbook'));
    expect(operations).toContain('## Alerts and runbook');
    const names = rules.map((r) => r.rule.alert ?? r.rule.record);
    expect(new Set(names).size, 'alert names are unique across rules files').toBe(names.length);
    const bad: string[] = [];
    for (const { file, rule } of rules) {
      expect(rule.expr, `${file} ${rule.alert}`).toBeTruthy();
      for (const e of promqlErrors(rule.expr ?? '')) bad.push(`${file} ${rule.alert}: ${e}`);
      if (!rule.alert) continue;
      expect(['critical', 'warning', 'info'], `${rule.alert} severity`).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, `${rule.alert} summary`).toBeTruthy();
      if (file === 'parley-alerts.yaml') {
        expect(rule.annotations?.runbook).toBe(`docs/operations.md#${rule.alert.toLowerCase()}`);
        expect(runbook, `runbook entry for ${rule.alert}`).toContain(`### ${rule.alert}\n`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('dashboards and rules - the alerts an on-call person must act on are all there', () => {
    const exprs = new Map(rules.filter((r) => r.file === 'parley-alerts.yaml').map((r) => [r.rule.alert, r.rule.expr ?? '']));
    const uses = (alert: string, metric: string) => expect(exprs.get(alert), `${alert} uses ${metric}`).toContain(metric);
    uses('ParleyGatewaysNotReady', 'parley_gateway_ready');
    uses('ParleyGatewayErrorRatioHigh', 'parley_gateway_errors_total');
    uses('ParleyDeliveryLatencyHigh', 'parley_gateway_delivery_latency_seconds_bucket');
    uses('ParleySlowConsumerDrops', 'parley_gateway_slow_consumer_closes_total');
    uses('ParleyBusDisconnected', 'parley_bus_connected');
    uses('ParleyPresenceRedisDown', 'parley_redis_connected');
    uses('ParleyAuthTokenRefusalsSpike', 'parley_auth_token_refusals_total');
  });
});
