import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { helm, KUBE_VERSION, renderNotes } from './support/chart.ts';
import { CHART_DIR, PREPARE_TIMEOUT_MS, prepareTools } from './support/tools.ts';

const ALL_FEATURES = fileURLToPath(new URL('./fixtures/all-features.yaml', import.meta.url));

describe('chart lint', () => {
  beforeAll(prepareTools, PREPARE_TIMEOUT_MS);

  it('chart - helm lint --strict passes with the default values', () => {
    const result = helm(['lint', '--strict', CHART_DIR, '--kube-version', KUBE_VERSION]);
    expect(result.stderr + result.stdout).toContain('0 chart(s) failed');
    expect(result.status).toBe(0);
  });

  it('chart - helm lint --strict passes with every optional feature on', () => {
    const result = helm(['lint', '--strict', CHART_DIR, '--kube-version', KUBE_VERSION, '-f', ALL_FEATURES]);
    expect(result.stderr + result.stdout).toContain('0 chart(s) failed');
    expect(result.status).toBe(0);
  });

  it('chart - NOTES.txt tells the operator how to get the admin token, create a tenant and connect', () => {
    const notes = renderNotes();
    expect(notes).toContain('secret parley-admin-token');
    expect(notes).toContain('parley-admin tenants create');
    expect(notes).toContain('helm test parley');
    expect(notes).toContain('ws://127.0.0.1:8080/v1/ws');
    expect(notes).toContain('no ServiceMonitor or PrometheusRule was');
    const withIngress = renderNotes({ values: { ingress: { enabled: true, hosts: ['chat.example.com'] } }, apiVersions: ['monitoring.coreos.com/v1'] });
    expect(withIngress).toContain('wss://chat.example.com/v1/ws');
    expect(withIngress).not.toContain('no ServiceMonitor');
  });
});
