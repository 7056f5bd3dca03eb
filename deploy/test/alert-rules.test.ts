import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at, findObject, renderChart } from './support/chart.ts';
import { CHART_DIR, PREPARE_TIMEOUT_MS, ensureTool } from './support/tools.ts';

/**
 * The chart's alert rules, as helm renders them into the PrometheusRule, checked and unit-tested
 * by the pinned promtool (scripts/ensure-tool.sh promtool): every alert fires on its failure and
 * stays silent in normal operation (deploy/test/rules/parley-alerts.test.yaml).
 */

const UNIT_TESTS = fileURLToPath(new URL('./rules/parley-alerts.test.yaml', import.meta.url));
const SOURCE_RULES = join(CHART_DIR, 'rules/parley-alerts.yaml');

interface RuleGroup {
  name: string;
  rules: Array<{ alert?: string; record?: string; expr: string }>;
}
interface AlertRuleTest {
  alertname: string;
  exp_alerts?: unknown[];
}
interface UnitTests {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: AlertRuleTest[] }>;
}

const work = mkdtempSync(join(tmpdir(), 'parley-alert-rules-'));
let promtool: string;
let renderedGroups: RuleGroup[];
let renderedRules: string;

function run(args: string[]) {
  const result = spawnSync(promtool, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The unit tests, run against `rulesFile` instead of the rule file they name. */
function testRules(rulesFile: string) {
  const tests = parseYaml(readFileSync(UNIT_TESTS, 'utf8')) as UnitTests;
  const file = join(work, `unit-tests-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, toYaml({ ...tests, rule_files: [rulesFile] }));
  return run(['test', 'rules', file]);
}

const alertNames = (groups: RuleGroup[]) => groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a): a is string => !!a);

beforeAll(() => {
  promtool = ensureTool('promtool');
  const rule = findObject(renderChart({ apiVersions: ['monitoring.coreos.com/v1'] }).objects, 'PrometheusRule');
  renderedGroups = at<RuleGroup[]>(rule, 'spec', 'groups');
  renderedRules = join(work, 'rendered-rules.yaml');
  writeFileSync(renderedRules, toYaml({ groups: renderedGroups }));
}, PREPARE_TIMEOUT_MS);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('alert rules under promtool', () => {
  it('alert rules - promtool check rules passes on the rules file and on the rules helm renders', () => {
    const count = alertNames(renderedGroups).length;
    expect(count).toBeGreaterThanOrEqual(9);
    for (const file of [SOURCE_RULES, renderedRules]) {
      const result = run(['check', 'rules', file]);
      expect(result.output, file).toContain(`SUCCESS: ${count} rules found`);
      expect(result.status, result.output).toBe(0);
    }
    // The rendered PrometheusRule holds exactly the rules of the chart's file.
    expect(renderedGroups).toEqual((parseYaml(readFileSync(SOURCE_RULES, 'utf8')) as { groups: RuleGroup[] }).groups);
  });

  it('alert rules - every alert has a unit test where it fires and one where it stays silent, and no test names an unknown alert', () => {
    const tests = parseYaml(readFileSync(UNIT_TESTS, 'utf8')) as UnitTests;
    expect(tests.rule_files).toEqual(['../../helm/parley/rules/parley-alerts.yaml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const alerts = alertNames(renderedGroups);
    const missing: string[] = [];
    for (const alert of alerts) {
      const own = cases.filter((c) => c.alertname === alert);
      if (!own.some((c) => (c.exp_alerts ?? []).length > 0)) missing.push(`${alert}: no case where it fires`);
      if (!own.some((c) => (c.exp_alerts ?? []).length === 0)) missing.push(`${alert}: no case where it stays silent`);
    }
    expect(missing).toEqual([]);
    expect(cases.map((c) => c.alertname).filter((name) => !alerts.includes(name))).toEqual([]);
    // Every test is about one alert, named first in its title.
    for (const t of tests.tests) expect(alerts, t.name).toContain(t.name.split(' ')[0]);
  });

  it('alert rules - promtool test rules: each alert fires on its failure and stays silent in normal operation', () => {
    const result = testRules(renderedRules);
    expect(result.output).toContain('SUCCESS');
    expect(result.status, result.output).toBe(0);
  });

  it('alert rules - the unit tests catch an alert that can no longer fire', () => {
    const broken = renderedGroups.map((g) => ({ ...g, rules: g.rules.map((r) => (r.alert === 'ParleyTargetDown' ? { ...r, expr: 'up{job="nothing"} == 0' } : r)) }));
    const file = join(work, 'broken-rules.yaml');
    writeFileSync(file, toYaml({ groups: broken }));
    expect(run(['check', 'rules', file]).status).toBe(0);
    const result = testRules(file);
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('alertname: ParleyTargetDown');
  });
});
