import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, ERRORS } from '../src/index.ts';

const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
const section = (name: string) => doc.split(`<!-- ${name}:start -->`)[1]!.split(`<!-- ${name}:end -->`)[0]!;

describe('registry', () => {
  it('registry - docs/protocol.md lists exactly the error codes, with their status and temporariness', () => {
    const rows = section('error-codes').split('\n').filter((l) => l.startsWith('| `'));
    const documented = Object.fromEntries(rows.map((r) => {
      const [, code, http, temporary] = r.split('|').map((c) => c.trim());
      return [code!.replaceAll('`', ''), { http: Number(http), temporary: temporary === 'yes' }];
    }));
    const registry = Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, { http: e.http, temporary: e.temporary }]));
    expect(documented).toEqual(registry);
  });

  it('registry - docs/protocol.md lists exactly the close codes', () => {
    const rows = section('close-codes').split('\n').filter((l) => /^\| \d/.test(l));
    const documented = Object.fromEntries(rows.map((r) => {
      const [, code, name] = r.split('|').map((c) => c.trim());
      return [name!.replaceAll('`', ''), Number(code)];
    }));
    expect(documented).toEqual(CLOSE_CODES);
  });
});
