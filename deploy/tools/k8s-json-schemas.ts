/**
 * Turns the Kubernetes OpenAPI v2 document (`api/openapi-spec/swagger.json` of the `k8s.io/kubernetes`
 * Go module) and CustomResourceDefinition YAML files into the JSON schema folder layout kubeconform
 * reads: one self-contained file per kind, `<kind>-<group's first label>-<version>.json`
 * (`deployment-apps-v1.json`, `service-v1.json`, `servicemonitor-monitoring-v1.json`).
 *
 * The schemas are strict like kubeconform's own `-strict` set: objects with declared properties
 * reject unknown fields (a typo in a template fails), int-or-string and quantities accept both
 * JSON types, optional fields accept null (the API server treats null as absent).
 *
 * Usage: node deploy/tools/k8s-json-schemas.ts <out-dir> <swagger.json> [crd.yaml …]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = { [key: string]: Json };

const INT_OR_STRING: Schema = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
const QUANTITY: Schema = { oneOf: [{ type: 'string' }, { type: 'number' }] };
const QUANTITY_DEF = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const DEF_PREFIX = '#/definitions/';

const isObject = (value: Json | undefined): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Rewrites one schema node (and its children) into the strict form described above. */
function strictify(node: Json, crd: boolean): Json {
  if (Array.isArray(node)) return node.map((item) => strictify(item, crd));
  if (!isObject(node)) return node;
  if (node.format === 'int-or-string' || node['x-kubernetes-int-or-string'] === true) return { ...INT_OR_STRING };
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    // Descriptions and Kubernetes extensions do not validate anything; dropping them keeps files small.
    if (key === 'description' || key.startsWith('x-kubernetes-') || key === 'nullable') continue;
    if (key === 'properties' && isObject(value)) {
      const props: Schema = {};
      const required = new Set(Array.isArray(node.required) ? node.required.map(String) : []);
      for (const [name, prop] of Object.entries(value)) {
        let converted = strictify(prop, crd);
        const nullable = isObject(prop) && prop.nullable === true;
        if (isObject(converted) && typeof converted.type === 'string' && (!required.has(name) || nullable)) {
          converted = { ...converted, type: [converted.type, 'null'] };
        }
        props[name] = converted;
      }
      out.properties = props;
      continue;
    }
    out[key] = strictify(value, crd);
  }
  const preserveUnknown = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (isObject(node.properties) && !('additionalProperties' in node) && !preserveUnknown) {
    out.additionalProperties = false;
  }
  return out;
}

function collectRefs(node: Json, into: Set<string>): void {
  if (Array.isArray(node)) {
    for (const item of node) collectRefs(item, into);
  } else if (isObject(node)) {
    const ref = node.$ref;
    if (typeof ref === 'string' && ref.startsWith(DEF_PREFIX)) into.add(ref.slice(DEF_PREFIX.length));
    for (const value of Object.values(node)) collectRefs(value, into);
  }
}

/** `apps` for `apps`, `monitoring` for `monitoring.coreos.com`, none for the core group. */
export function schemaFileName(kind: string, group: string, version: string): string {
  const groupPart = group === '' ? '' : `-${group.split('.')[0]}`;
  return `${kind.toLowerCase()}${groupPart}-${version}.json`;
}

/** Writes one file per kind of the OpenAPI v2 document; returns how many. */
export function convertSwagger(swagger: Schema, outDir: string): number {
  const source = swagger.definitions;
  if (!isObject(source)) throw new Error('swagger document has no definitions');
  const defs: Record<string, Json> = {};
  for (const [name, def] of Object.entries(source)) {
    defs[name] = name === QUANTITY_DEF ? { ...QUANTITY } : strictify(def, false);
  }
  let written = 0;
  for (const [name, def] of Object.entries(source)) {
    const gvks = isObject(def) ? def['x-kubernetes-group-version-kind'] : undefined;
    if (!Array.isArray(gvks)) continue;
    const closure = new Set<string>();
    const pending = [name];
    while (pending.length > 0) {
      const current = pending.pop() as string;
      const found = new Set<string>();
      collectRefs(defs[current] ?? null, found);
      for (const ref of found) {
        if (!closure.has(ref)) {
          closure.add(ref);
          pending.push(ref);
        }
      }
    }
    const definitions: Schema = {};
    for (const ref of [...closure].sort()) definitions[ref] = defs[ref] ?? {};
    const body = { $schema: 'http://json-schema.org/draft-07/schema#', ...(defs[name] as Schema), definitions };
    for (const gvk of gvks) {
      if (!isObject(gvk)) continue;
      const file = schemaFileName(String(gvk.kind), String(gvk.group ?? ''), String(gvk.version));
      writeFileSync(join(outDir, file), JSON.stringify(body));
      written++;
    }
  }
  return written;
}

/** Writes one file per served version of each CustomResourceDefinition in the YAML text. */
export function convertCrds(yamlText: string, outDir: string): number {
  let written = 0;
  for (const doc of parseAllDocuments(yamlText)) {
    const crd = doc.toJS() as Schema | null;
    if (!isObject(crd) || crd.kind !== 'CustomResourceDefinition' || !isObject(crd.spec)) continue;
    const { group, names, versions } = crd.spec;
    if (typeof group !== 'string' || !isObject(names) || !Array.isArray(versions)) continue;
    for (const version of versions) {
      if (!isObject(version) || !isObject(version.schema) || !isObject(version.schema.openAPIV3Schema)) continue;
      const schema = strictify(version.schema.openAPIV3Schema, true) as Schema;
      const file = schemaFileName(String(names.kind), group, String(version.name));
      writeFileSync(join(outDir, file), JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema }));
      written++;
    }
  }
  return written;
}

function main(argv: string[]): void {
  const [outDir, swaggerPath, ...crdPaths] = argv;
  if (!outDir || !swaggerPath) {
    console.error('usage: node deploy/tools/k8s-json-schemas.ts <out-dir> <swagger.json> [crd.yaml …]');
    process.exit(2);
  }
  mkdirSync(outDir, { recursive: true });
  const kinds = convertSwagger(JSON.parse(readFileSync(swaggerPath, 'utf8')) as Schema, outDir);
  let crds = 0;
  for (const path of crdPaths) crds += convertCrds(readFileSync(path, 'utf8'), outDir);
  console.error(`[k8s-json-schemas] wrote ${kinds} Kubernetes and ${crds} custom resource schemas to ${outDir}`);
}

if (import.meta.main) main(process.argv.slice(2));
