import { spawnSync } from 'node:child_process';
import { ensureSchemas, ensureTool, REPO_ROOT } from './tools.ts';

export interface ValidationResult {
  filename: string;
  kind: string;
  name: string;
  version: string;
  status: 'statusValid' | 'statusInvalid' | 'statusError' | 'statusSkipped' | 'statusEmpty';
  msg: string;
}

/**
 * Validates a multi-document YAML stream with kubeconform in strict mode against the offline
 * schemas. No schema is ever downloaded, and an object without a schema is an error, not a skip.
 */
export function validateManifests(yamlText: string): ValidationResult[] {
  const schemas = ensureSchemas();
  const result = spawnSync(
    ensureTool('kubeconform'),
    ['-strict', '-output', 'json', '-verbose', '-schema-location', `${schemas}/{{ .ResourceKind }}{{ .KindSuffix }}.json`, '-'],
    { cwd: REPO_ROOT, input: yamlText, encoding: 'utf8', timeout: 60_000 },
  );
  if (result.error) throw result.error;
  const report = JSON.parse(result.stdout) as { resources?: ValidationResult[] };
  return report.resources ?? [];
}
