import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR, REPO_ROOT, ensureTool } from './tools.ts';

/** A rendered Kubernetes object; fields beyond the header are read with the helpers below. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface RenderOptions {
  /** Values merged over values.yaml (passed as a file, like `-f`). */
  values?: Record<string, unknown>;
  /** Extra `--set` expressions. */
  set?: string[];
  /** `--api-versions`, e.g. monitoring.coreos.com/v1 to turn the Prometheus operator objects on. */
  apiVersions?: string[];
  release?: string;
  namespace?: string;
  /** `--kube-version`; the default is the Kubernetes version the schemas come from. */
  kubeVersion?: string;
}

/** The Kubernetes version whose schemas validate the chart (deploy/tools/ensure-schemas.sh). */
export const KUBE_VERSION = '1.36.3';
export const DEFAULT_RELEASE = 'parley';
export const DEFAULT_NAMESPACE = 'chat';

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs helm with the given arguments from the repository root. */
export function helm(args: string[]): HelmResult {
  const result = spawnSync(ensureTool('helm'), args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `helm template` with the options; never throws (see renderChart for the parsed form). */
export function templateChart(options: RenderOptions = {}, chartDir = CHART_DIR): HelmResult {
  const dir = mkdtempSync(join(tmpdir(), 'parley-chart-'));
  try {
    const args = ['template', options.release ?? DEFAULT_RELEASE, chartDir, '--namespace', options.namespace ?? DEFAULT_NAMESPACE];
    args.push('--kube-version', options.kubeVersion ?? KUBE_VERSION);
    if (options.values) {
      const file = join(dir, 'values.json');
      writeFileSync(file, JSON.stringify(options.values));
      args.push('-f', file);
    }
    for (const expression of options.set ?? []) args.push('--set', expression);
    for (const api of options.apiVersions ?? []) args.push('--api-versions', api);
    return helm(args);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Renders the chart and parses every object; throws with helm's message when rendering fails. */
export function renderChart(options: RenderOptions = {}): { yaml: string; objects: K8sObject[] } {
  const result = templateChart(options);
  if (result.status !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return { yaml: result.stdout, objects: parseObjects(result.stdout) };
}

/** Parses a multi-document YAML stream into objects, skipping empty documents. */
export function parseObjects(yamlText: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML from helm: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value) objects.push(value);
  }
  return objects;
}

/** The one object of a kind whose name ends with `suffix` (e.g. `-gateway`); throws when absent. */
export function findObject(objects: K8sObject[], kind: string, suffix = ''): K8sObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(suffix));
  if (found.length !== 1) throw new Error(`expected one ${kind} named *${suffix}, found ${found.length}`);
  return found[0]!;
}

/** Reads a nested field: at(obj, 'spec', 'template', 'spec'). */
export function at<T = unknown>(value: unknown, ...path: Array<string | number>): T {
  let current: unknown = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined as T;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current as T;
}

/**
 * Renders templates/NOTES.txt. `helm template` leaves NOTES out and `helm install --dry-run`
 * wants a cluster, so a copy of the chart renders the same text through `tpl` into a ConfigMap.
 */
export function renderNotes(options: RenderOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-notes-'));
  try {
    const chart = join(dir, 'parley');
    cpSync(CHART_DIR, chart, { recursive: true });
    cpSync(join(chart, 'templates', 'NOTES.txt'), join(chart, 'notes-under-test.txt'));
    writeFileSync(
      join(chart, 'templates', 'zz-notes-under-test.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\ndata:\n  notes: {{ tpl (.Files.Get "notes-under-test.txt") . | toJson }}\n',
    );
    const result = templateChart(options, chart);
    if (result.status !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
    const notes = parseObjects(result.stdout).find((o) => o.metadata.name === 'notes-under-test');
    return at<string>(notes, 'data', 'notes');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
