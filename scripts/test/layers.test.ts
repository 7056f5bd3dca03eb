import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The layer rules of docs/development.md, read from its "Layout" table and checked against the
// imports in every workspace's source, so the table and the code cannot drift apart.
const root = join(import.meta.dirname, '..', '..');
const packageJson = (folder: string) => JSON.parse(readFileSync(join(root, folder, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };

function layoutTable(): Map<string, string> {
  const doc = readFileSync(join(root, 'docs/development.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Layout'), doc.indexOf('\n## ', doc.indexOf('## Layout') + 1));
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const folder = /^`([a-z-]+\/[a-z-]+)`$/.exec(cells[1] ?? '')?.[1];
    if (folder) rows.set(folder, cells[3] ?? '');
  }
  return rows;
}

function sourceFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const importsOf = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)].map((m) => (m[1] ?? m[2])!);

const rules = layoutTable();
const folderOf = new Map([...rules.keys()].map((folder) => [packageJson(folder).name, folder]));

/** The workspace folders a "may depend on" cell allows: named packages, "packages" or "services" (every folder there), "—" for none. */
function allowed(cell: string): Set<string> {
  const out = new Set<string>();
  for (const word of cell.split(/[,()\s]+/)) {
    if (word === 'packages' || word === 'services') for (const folder of rules.keys()) if (folder.startsWith(`${word}/`)) out.add(folder);
    if (rules.has(`packages/${word}`)) out.add(`packages/${word}`);
    if (rules.has(`services/${word}`)) out.add(`services/${word}`);
  }
  return out;
}

describe('layers', () => {
  it('layers - the Layout table of docs/development.md names every workspace under packages/ and services/', () => {
    const workspaces = ['packages', 'services'].flatMap((top) => readdirSync(join(root, top)).map((name) => `${top}/${name}`));
    expect([...rules.keys()].sort()).toEqual(workspaces.sort());
  });

  for (const [folder, cell] of rules) {
    it(`layers - ${folder} imports only what the table allows (${cell}) and declares it in package.json`, () => {
      const may = allowed(cell);
      const declared = new Set([...Object.keys(packageJson(folder).dependencies ?? {}), ...Object.keys(packageJson(folder).peerDependencies ?? {})]);
      const broken: string[] = [];
      for (const file of [...sourceFiles(join(root, folder, 'src')), ...sourceFiles(join(root, folder, 'bin'))]) {
        for (const specifier of importsOf(file)) {
          const where = relative(root, file);
          if (specifier.startsWith('.') && relative(join(root, folder), join(file, '..', specifier)).startsWith('..')) broken.push(`${where}: reaches outside its workspace with ${specifier}`);
          const name = /^(@parley\/[a-z-]+)/.exec(specifier)?.[1];
          if (!name) continue;
          const target = folderOf.get(name);
          if (target === folder) continue;
          if (!target || !may.has(target)) broken.push(`${where}: imports ${name}, which the table does not allow`);
          else if (!declared.has(name)) broken.push(`${where}: imports ${name} without declaring it in package.json dependencies`);
          if (folder.startsWith('services/') && target?.startsWith('services/')) broken.push(`${where}: a service imports another service (${name})`);
        }
      }
      expect(broken).toEqual([]);
    });
  }

  it("layers - the gateway's domain imports nothing from its transports", () => {
    const domain = join(root, 'services/gateway/src/domain');
    const broken = sourceFiles(domain).flatMap((file) =>
      importsOf(file)
        .filter((s) => s.startsWith('.') && relative(domain, join(file, '..', s)).startsWith('..') && /transport|app\.ts|main\.ts/.test(s))
        .map((s) => `${relative(root, file)}: ${s}`),
    );
    expect(broken).toEqual([]);
  });
});
