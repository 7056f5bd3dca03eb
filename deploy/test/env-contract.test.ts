import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMPONENTS, loadEnvContract } from './support/env-contract.ts';
import { REPO_ROOT } from './support/tools.ts';

/**
 * env-contract.json must list every variable a service's config reads, or the chart would not
 * be checked for it. Each service's `src/config.ts` exports its variables as `<SERVICE>_ENV`
 * (`GATEWAY_ENV`, `AUTH_ENV`, …): a map from setting to variable name.
 */
describe('env contract', () => {
  it('env contract - lists every variable the services read from their environment', async () => {
    const contract = loadEnvContract();
    const checked: string[] = [];
    for (const component of COMPONENTS) {
      const file = join(REPO_ROOT, 'services', component, 'src', 'config.ts');
      if (!existsSync(file)) continue; // a service still being written has no config yet
      const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      const names = module[`${component.toUpperCase()}_ENV`];
      expect(names, `${file} exports ${component.toUpperCase()}_ENV`).toBeTypeOf('object');
      for (const name of Object.values(names as Record<string, string>)) {
        expect(Object.keys(contract[component].env), `${component} reads ${name}`).toContain(name);
      }
      checked.push(component);
    }
    expect(checked).toEqual(expect.arrayContaining(['gateway', 'auth']));
  });
});
