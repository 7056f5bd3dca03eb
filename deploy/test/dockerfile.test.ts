import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDockerignore, parseDockerfile, readDockerfile } from '../docker/dockerfile.ts';
import { COMPONENTS, loadEnvContract } from './support/env-contract.ts';
import { REPO_ROOT } from './support/tools.ts';

const stages = readDockerfile(join(REPO_ROOT, 'Dockerfile'));
const stage = (name: string) => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`no stage ${name}`);
  return found;
};
const contract = loadEnvContract();
const ignored = createDockerignore(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));

describe('container image', () => {
  it('image - each service target runs its production command, port and health check', () => {
    for (const component of COMPONENTS) {
      const target = stage(component);
      expect(target.cmd).toEqual(contract[component].command);
      expect(target.expose).toEqual([contract[component].port]);
      expect(target.healthcheck).toEqual(['node', 'deploy/docker/healthcheck.mjs', String(contract[component].port)]);
    }
    // Without --target the gateway is built.
    expect(stages.at(-1)?.name).toBe('gateway');
  });

  it('image - runs as uid 10001 under tini from /app on a Node 24 trixie base', () => {
    for (const component of COMPONENTS) {
      const target = stage(component);
      expect(target.user).toBe('10001:10001');
      expect(target.entrypoint).toEqual(['/usr/bin/tini', '--']);
      expect(target.workdir).toBe('/app');
      expect(target.env.NODE_ENV).toBe('production');
    }
    const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(text).toMatch(/^ARG NODE_IMAGE=node:24-trixie-slim$/m);
    expect(stage('deps').runs).toContain('npm ci --omit=dev --no-audit --no-fund');
    expect(stage('runtime').copies).toEqual([{ sources: ['/app'], dest: '/app', from: 'deps' }]);
  });

  it('image - every COPY source exists in the build context and is not excluded by .dockerignore', () => {
    const copies = stages.flatMap((s) => s.copies).filter((c) => c.from === undefined);
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      for (const source of copy.sources) {
        expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
        expect(ignored(source), source).toBe(false);
      }
    }
    // Every service's sources are copied; tests and local installs never are.
    for (const component of COMPONENTS) expect(ignored(`services/${component}/src/main.ts`)).toBe(false);
    expect(ignored('services/gateway/test/unit/app.test.ts')).toBe(true);
    expect(ignored('packages/protocol/node_modules/zod/index.js')).toBe(true);
    expect(ignored('node_modules/.bin/vitest')).toBe(true);
    expect(ignored('services/auth/.data/tenants.json')).toBe(true);
  });

  it('image - the Dockerfile reader joins continuations and reads flags, ENV and exec forms', () => {
    const parsed = parseDockerfile(
      [
        'ARG BASE=debian',
        'FROM ${BASE} AS one',
        'WORKDIR /srv',
        '# a comment',
        'RUN --mount=type=cache,target=/x echo a \\',
        '  && echo b',
        'ENV A=1 \\',
        '    B="two words"',
        'COPY --chown=1:1 a b dir/',
        'FROM one AS two',
        'WORKDIR sub',
        'HEALTHCHECK --interval=5s CMD ["true"]',
        'CMD ["node", "x.ts"]',
      ].join('\n'),
    );
    expect(parsed.map((s) => s.name)).toEqual(['one', 'two']);
    expect(parsed[0]!.runs).toEqual(['echo a && echo b']);
    expect(parsed[0]!.copies).toEqual([{ sources: ['a', 'b'], dest: 'dir/' }]);
    expect(parsed[1]!.env).toEqual({ A: '1', B: 'two words' });
    expect(parsed[1]!.workdir).toBe('/srv/sub');
    expect(parsed[1]!.healthcheck).toEqual(['true']);
    expect(parsed[1]!.cmd).toEqual(['node', 'x.ts']);
    expect(() => parseDockerfile('FROM a\nCMD node x.ts')).toThrow(/exec \(JSON array\) form/);
  });

  it('image - the .dockerignore reader follows Docker: parents, ** and ! exceptions, last match wins', () => {
    const match = createDockerignore('# comment\n**/test\ndocs\n*.md\n!README.md\nsrc/**/*.tmp\n');
    expect(match('test')).toBe(true);
    expect(match('a/b/test/c.ts')).toBe(true);
    expect(match('a/testing/c.ts')).toBe(false);
    expect(match('docs/x/y.png')).toBe(true);
    expect(match('CHANGES.md')).toBe(true);
    expect(match('README.md')).toBe(false);
    expect(match('sub/CHANGES.md')).toBe(false);
    expect(match('src/a/b/c.tmp')).toBe(true);
    expect(match('src/c.tmp')).toBe(true);
    expect(match('src/c.ts')).toBe(false);
  });
});
