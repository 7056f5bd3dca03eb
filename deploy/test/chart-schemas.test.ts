import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { PREPARE_TIMEOUT_MS, prepareTools } from './support/tools.ts';
import { renderChart } from './support/chart.ts';
import { validateManifests } from './support/kubeconform.ts';

const allFeatures = parse(readFileSync(fileURLToPath(new URL('./fixtures/all-features.yaml', import.meta.url)), 'utf8')) as Record<string, unknown>;
const MONITORING = ['monitoring.coreos.com/v1'];

function expectAllValid(yamlText: string, expectedKinds: string[]) {
  const results = validateManifests(yamlText);
  const problems = results.filter((r) => r.status !== 'statusValid').map((r) => `${r.kind}/${r.name}: ${r.status} ${r.msg}`);
  expect(problems).toEqual([]);
  expect(new Set(results.map((r) => r.kind))).toEqual(new Set(expectedKinds));
}

describe('chart schemas', () => {
  beforeAll(prepareTools, PREPARE_TIMEOUT_MS);

  it('chart - every object rendered with the default values validates against the Kubernetes schemas', () => {
    const { yaml } = renderChart();
    expectAllValid(yaml, ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount', 'Pod']);
  });

  it('chart - every object rendered with every feature on validates, custom resources included', () => {
    const { yaml } = renderChart({ values: allFeatures, apiVersions: MONITORING });
    expectAllValid(yaml, [
      'ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount', 'Pod',
      'HorizontalPodAutoscaler', 'Ingress', 'HTTPRoute', 'ServiceMonitor', 'PrometheusRule',
    ]);
  });

  it('chart - the validator rejects an object with an unknown field and a kind without schema', () => {
    const results = validateManifests(
      [
        'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80, targtPort: 8080}]}',
        'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: b}',
      ].join('\n---\n'),
    );
    expect(results.map((r) => [r.kind, r.status]).sort()).toEqual([
      ['Service', 'statusInvalid'],
      ['Widget', 'statusError'],
    ]);
  });
});
