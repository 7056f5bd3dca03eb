import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The layer rules of docs/development.md, read from its "Layout" table and checked against the
// imports in every workspace's source, so the table and the code cannot drift apart.
const root = join(import.meta.dirname, '..', '..');
const packageJson = (folder: string) => JSON.parse(readFileSync(join(root, folder, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; exports?: Record<string, string> };

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

/** Where workspaces live: libraries, services, and the launchers that put services together. */
const TOP_FOLDERS = ['packages', 'services', 'apps'];
const rules = layoutTable();
const folderOf = new Map([...rules.keys()].map((folder) => [packageJson(folder).name, folder]));

/** The workspace folders a "may depend on" cell allows: named packages, "packages" or "services" (every folder there), "—" for none. */
function allowed(cell: string): Set<string> {
  const out = new Set<string>();
  for (const word of cell.split(/[,()\s]+/)) {
    if (TOP_FOLDERS.includes(word)) for (const folder of rules.keys()) if (folder.startsWith(`${word}/`)) out.add(folder);
    for (const top of TOP_FOLDERS) if (rules.has(`${top}/${word}`)) out.add(`${top}/${word}`);
  }
  return out;
}

describe('layers', () => {
  it('layers - the Layout table of docs/development.md names every workspace under packages/, services/ and apps/', () => {
    const workspaces = TOP_FOLDERS.flatMap((top) => readdirSync(join(root, top)).map((name) => `${top}/${name}`));
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
          if (!folder.startsWith('apps/') && target?.startsWith('apps/')) broken.push(`${where}: imports a launcher (${name}); only apps/ may put services together`);
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

  it("layers - the gateway's domain imports ports, never an adapter (no @parley/*/nats|redis|jetstream|open, no NATS, Redis or uWebSockets.js)", () => {
    const domain = join(root, 'services/gateway/src/domain');
    const broken = sourceFiles(domain).flatMap((file) =>
      importsOf(file)
        .filter((s) => ADAPTER_SUBPATH.test(s) || ADAPTER_LIBRARY.test(s))
        .map((s) => `${relative(root, file)}: ${s}`),
    );
    expect(broken).toEqual([]);
  });

  for (const [folder, subpaths] of Object.entries(PORT_PACKAGES)) {
    it(`layers - ${folder}: the main entry is the port and the in-memory adapter only; ${subpaths.join(', ')} are subpath exports`, () => {
      const exports = packageJson(folder).exports ?? {};
      expect(Object.keys(exports).sort()).toEqual(['.', ...subpaths.map((s) => `./${s}`)].sort());
      const reached = localClosure(join(root, folder, exports['.']!));
      const libraries = [...reached].flatMap((file) => importsOf(file).filter((s) => !s.startsWith('.') && ADAPTER_LIBRARY.test(s)).map((s) => `${relative(root, file)}: ${s}`));
      expect(libraries).toEqual([]);
    });
  }
});

const ADAPTER_SUBPATH = /^@parley\/[a-z-]+\/(nats|redis|jetstream|file|open)$/;
const ADAPTER_LIBRARY = /^(@nats-io\/|ioredis$|uWebSockets\.js$)/;
const PORT_PACKAGES: Record<string, string[]> = {
  'packages/bus': ['nats', 'open'],
  'packages/presence-store': ['redis', 'open'],
  'packages/history': ['jetstream', 'open'],
  'packages/moderation': ['redis', 'file', 'open'],
};

/** The files a module reaches through relative imports, itself included. */
function localClosure(entry: string, seen = new Set<string>()): Set<string> {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  for (const specifier of importsOf(entry)) if (specifier.startsWith('.')) localClosure(join(entry, '..', specifier), seen);
  return seen;
}
