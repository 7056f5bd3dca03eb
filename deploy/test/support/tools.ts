import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The chart under test. */
export const CHART_DIR = fileURLToPath(new URL('../../helm/parley/', import.meta.url));

const cache = new Map<string, string>();

function runScript(script: string, args: string[]): string {
  const key = [script, ...args].join(' ');
  const known = cache.get(key);
  if (known) return known;
  // The first call may build a tool with `go install` (minutes for helm, Kubernetes): no short timeout here.
  const result = spawnSync('bash', [script, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 40 * 60_000 });
  if (result.status !== 0) throw new Error(`${key} failed (${result.status}):\n${result.stderr}`);
  const out = result.stdout.trim().split('\n').pop() ?? '';
  cache.set(key, out);
  return out;
}

/** Path of a pinned Go-built tool, built on first use by scripts/ensure-tool.sh. */
export function ensureTool(tool: 'helm' | 'kubeconform' | 'k6' | 'prometheus' | 'promtool'): string {
  return runScript('scripts/ensure-tool.sh', [tool]);
}

/**
 * Folder of the local Kubernetes cluster's binaries (scripts/ensure-kube.sh: Kubernetes v1.34,
 * etcd, CoreDNS, pause), built once from the Go module proxy: about 7 minutes on a cold machine.
 */
export function ensureKube(): string {
  return runScript('scripts/ensure-kube.sh', []);
}

/** Folder of Kubernetes JSON schemas in kubeconform's layout (deploy/tools/ensure-schemas.sh). */
export function ensureSchemas(): string {
  return runScript('deploy/tools/ensure-schemas.sh', []);
}

/** A first run builds helm and kubeconform with `go install` and fetches the schemas: minutes. */
export const PREPARE_TIMEOUT_MS = 20 * 60_000;

/** Builds or finds every tool the chart tests use; call it in a beforeAll with PREPARE_TIMEOUT_MS. */
export function prepareTools(): void {
  ensureTool('helm');
  ensureTool('kubeconform');
  ensureSchemas();
}
