import fc from 'fast-check';

/**
 * An OpenAPI-driven HTTP fuzzer (in the spirit of schemathesis, which needs a Python this runtime
 * does not have): requests are generated from an OpenAPI 3.1 document, mostly valid by its
 * schemas and partly mutated, and each answer is checked against the document: no 5xx, a status
 * the operation documents, a body that matches the documented schema. Only the JSON Schema
 * keywords Parley's documents use are understood; an unknown keyword fails loudly.
 */

type Schema = Record<string, unknown>;
export type OpenApiDocument = { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } };

interface Operation {
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: Schema }>;
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
  security?: Array<Record<string, unknown>>;
}

export interface FuzzOperation {
  method: string;
  /** The path template, e.g. `/v1/rooms/{room}/publish`. */
  path: string;
  operation: Operation;
  /** The security scheme names the operation accepts (e.g. `ApiKey`, `AdminToken`). */
  security: string[];
}

export interface FuzzRequest {
  method: string;
  /** Path with parameters filled in and percent-encoded. */
  path: string;
  body: string | undefined;
  /** Which credential to send: the operation's valid one, or none / a wrong one. */
  credential: 'valid' | 'none' | 'wrong';
}

const KNOWN_KEYWORDS = new Set([
  '$ref', 'type', 'properties', 'required', 'additionalProperties', 'items', 'maxItems', 'minItems', 'enum', 'pattern',
  'minLength', 'maxLength', 'minimum', 'maximum', 'allOf', 'description', 'example', 'default', 'format', 'title', 'nullable',
  'anyOf', 'oneOf', 'const', 'exclusiveMinimum', 'exclusiveMaximum', 'propertyNames',
]);

/** Every operation of the document. */
export function operationsOf(doc: OpenApiDocument): FuzzOperation[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      operation,
      security: (operation.security ?? []).flatMap((s) => Object.keys(s)),
    })),
  );
}

function resolve(doc: OpenApiDocument, schema: Schema): Schema {
  let current = schema;
  for (let i = 0; i < 10 && typeof current.$ref === 'string'; i++) {
    const name = (current.$ref as string).replace('#/components/schemas/', '');
    const target = doc.components?.schemas?.[name];
    if (!target) throw new Error(`unresolved $ref ${String(current.$ref)}`);
    current = target;
  }
  return current;
}

/** Strings tried for a pattern, besides random ones: what Parley's names look like. */
const NAME_SAMPLES = ['lobby', 'game-1', 'a/b#c', 'équipe', 'acme', 'fuzz-a', 'x', 'key_AAAAAAAAAAAA'];

/** A fast-check arbitrary of values valid for `schema` (as far as the understood keywords go). */
export function arbitraryOf(doc: OpenApiDocument, input: Schema, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(doc, input);
  for (const key of Object.keys(schema)) if (!KNOWN_KEYWORDS.has(key)) throw new Error(`openapi fuzz: unknown schema keyword ${key}`);
  if (Array.isArray(schema.allOf)) return arbitraryOf(doc, Object.assign({}, ...(schema.allOf as Schema[]).map((s) => resolve(doc, s))), depth);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.anyOf ?? schema.oneOf)) return fc.oneof(...((schema.anyOf ?? schema.oneOf) as Schema[]).map((s) => arbitraryOf(doc, s, depth + 1)));
  // OpenAPI 3.1 (JSON Schema): `type: ["string", "null"]` is any of those types.
  if (Array.isArray(schema.type)) return fc.oneof(...(schema.type as string[]).map((type) => arbitraryOf(doc, { ...schema, type }, depth)));
  switch (schema.type) {
    case 'null':
      return fc.constant(null);
    case 'string': {
      const min = (schema.minLength as number | undefined) ?? 0;
      const max = (schema.maxLength as number | undefined) ?? 64;
      if (typeof schema.pattern === 'string') {
        const re = new RegExp(schema.pattern, 'u');
        const fits = (s: string) => re.test(s) && s.length >= min && s.length <= max;
        const samples = NAME_SAMPLES.filter(fits);
        // fast-check generates from simple patterns; Unicode property escapes it cannot: samples only then.
        let generated: fc.Arbitrary<string> | undefined;
        if (!schema.pattern.includes('\\p{')) {
          try {
            generated = fc.stringMatching(new RegExp(schema.pattern)).filter(fits);
          } catch {
            generated = undefined;
          }
        }
        if (samples.length === 0 && !generated) throw new Error(`openapi fuzz: no sample matches ${schema.pattern}`);
        return samples.length === 0 ? generated! : generated ? fc.oneof(fc.constantFrom(...samples), generated) : fc.constantFrom(...samples);
      }
      return fc.string({ minLength: min, maxLength: Math.min(max, 64), unit: 'grapheme' });
    }
    case 'integer':
      return fc.integer({ min: (schema.minimum as number | undefined) ?? -1_000_000, max: (schema.maximum as number | undefined) ?? 1_000_000 });
    case 'number':
      return fc.double({ min: (schema.minimum as number | undefined) ?? -1e6, max: (schema.maximum as number | undefined) ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'array': {
      const items = schema.items ? arbitraryOf(doc, schema.items as Schema, depth + 1) : fc.jsonValue();
      return fc.array(items, { minLength: (schema.minItems as number | undefined) ?? 0, maxLength: Math.min((schema.maxItems as number | undefined) ?? 4, 4) });
    }
    case 'object':
    case undefined: {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const required = new Set((schema.required ?? []) as string[]);
      if (schema.type === undefined && Object.keys(properties).length === 0 && schema.additionalProperties === undefined) {
        return depth > 3 ? fc.constant(null) : fc.jsonValue({ maxDepth: 3 });
      }
      const record = fc.record(
        Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, arbitraryOf(doc, v, depth + 1)])),
        { requiredKeys: [...required] },
      );
      const extra = schema.additionalProperties;
      if (extra && typeof extra === 'object' && depth < 4) {
        const values = Object.keys(extra).length === 0 ? fc.jsonValue({ maxDepth: 2 }) : arbitraryOf(doc, extra as Schema, depth + 1);
        const keys = schema.propertyNames ? (arbitraryOf(doc, schema.propertyNames as Schema, depth + 1) as fc.Arbitrary<string>) : fc.oneof(fc.constantFrom(...NAME_SAMPLES), fc.string({ minLength: 1, maxLength: 8 }));
        return fc.tuple(record, fc.dictionary(keys, values, { maxKeys: 3 })).map(([r, d]) => ({ ...d, ...r }));
      }
      return record;
    }
    default:
      throw new Error(`openapi fuzz: unknown type ${JSON.stringify(schema.type)}`);
  }
}

/** The reasons `value` does not match `schema` (empty when it does). */
export function validate(doc: OpenApiDocument, input: Schema, value: unknown, at = '$'): string[] {
  const schema = resolve(doc, input);
  const errors: string[] = [];
  if (Array.isArray(schema.allOf)) for (const s of schema.allOf as Schema[]) errors.push(...validate(doc, s, value, at));
  if (Array.isArray(schema.anyOf ?? schema.oneOf)) {
    const options = (schema.anyOf ?? schema.oneOf) as Schema[];
    if (!options.some((s) => validate(doc, s, value, at).length === 0)) errors.push(`${at}: matches none of the alternatives`);
  }
  if (Array.isArray(schema.enum) && !(schema.enum as unknown[]).includes(value)) errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (Array.isArray(schema.type)) {
    const types = schema.type as string[];
    return types.some((type) => validate(doc, { ...schema, type, enum: undefined }, value, at).length === 0) ? errors : [...errors, `${at}: not any of ${types.join(', ')}`];
  }
  const type = schema.type;
  if (type === 'null' && value !== null) return [...errors, `${at}: not null`];
  const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
  if (type === 'string') {
    if (typeof value !== 'string') return [...errors, `${at}: not a string`];
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${at}: does not match ${schema.pattern}`);
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) errors.push(`${at}: shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) errors.push(`${at}: longer than ${schema.maxLength}`);
  } else if (type === 'integer' || type === 'number') {
    if (typeof value !== 'number' || (type === 'integer' && !Number.isInteger(value))) return [...errors, `${at}: not an ${String(type)}`];
    if (typeof schema.minimum === 'number' && value < schema.minimum) errors.push(`${at}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) errors.push(`${at}: above ${schema.maximum}`);
  } else if (type === 'boolean') {
    if (typeof value !== 'boolean') errors.push(`${at}: not a boolean`);
  } else if (type === 'array') {
    if (!Array.isArray(value)) return [...errors, `${at}: not an array`];
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) errors.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => errors.push(...validate(doc, schema.items as Schema, v, `${at}[${i}]`)));
  } else if (type === 'object') {
    if (!isObject) return [...errors, `${at}: not an object`];
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    const record = value as Record<string, unknown>;
    for (const key of (schema.required ?? []) as string[]) if (!(key in record)) errors.push(`${at}: missing ${key}`);
    for (const [key, v] of Object.entries(record)) {
      if (key in properties) errors.push(...validate(doc, properties[key]!, v, `${at}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: unexpected property ${key}`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') errors.push(...validate(doc, schema.additionalProperties as Schema, v, `${at}.${key}`));
    }
  }
  return errors;
}

/** Requests for one operation: mostly valid by the document, some with a mutated body or a path segment, or a wrong credential. */
export function requestsFor(doc: OpenApiDocument, op: FuzzOperation): fc.Arbitrary<FuzzRequest> {
  const params = (op.operation.parameters ?? []).filter((p) => p.in === 'path');
  // `.` and `..` cannot be sent as a path segment: every URL parser removes them (WHATWG URL, so
  // `fetch` too), and the request would reach another route.
  const segment = (schema: Schema | undefined) =>
    fc
      .oneof({ weight: 4, arbitrary: schema ? (arbitraryOf(doc, schema) as fc.Arbitrary<unknown>).map(String) : fc.constant('x') }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 200, unit: 'binary' }) })
      .filter((value) => value !== '.' && value !== '..');
  const path = fc.tuple(...params.map((p) => segment(p.schema))).map((values) =>
    params.reduce((acc, p, i) => acc.replace(`{${p.name}}`, encodeURIComponent(values[i] as string).replace(/%(?![0-9A-F]{2})/g, '%25')), op.path),
  );
  const bodySchema = op.operation.requestBody?.content?.['application/json']?.schema;
  const body: fc.Arbitrary<string | undefined> = bodySchema
    ? fc.oneof(
        { weight: 6, arbitrary: arbitraryOf(doc, bodySchema).map((v) => JSON.stringify(v)) },
        { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
        { weight: 1, arbitrary: fc.string({ maxLength: 100 }) },
        // Hostile shapes: nesting far deeper than any limit, in every field a body may have.
        {
          weight: 1,
          arbitrary: fc.integer({ min: 60, max: 6_000 }).map((d) => {
            const deep = `${'['.repeat(d)}${']'.repeat(d)}`;
            return `{"data":${deep},"user":"u","grants":{"*":["subscribe"]},"info":{"x":${deep}},"settings":{"x":${deep}},"ns":"fuzz-a"}`;
          }),
        },
        { weight: 1, arbitrary: fc.constant(undefined) },
      )
    : fc.constant(undefined);
  const credential = op.security.length === 0 ? fc.constant('valid' as const) : fc.constantFrom('valid', 'valid', 'valid', 'valid', 'none', 'wrong');
  return fc.record({ method: fc.constant(op.method), path, body, credential });
}

/**
 * Checks an answer against the operation's documented responses: the reasons it breaks the
 * document (a 5xx, an undocumented status, a body that does not match), empty when it keeps it.
 */
export function checkResponse(doc: OpenApiDocument, op: FuzzOperation, status: number, bodyText: string): string[] {
  if (status >= 500) return [`${status}: server error: ${bodyText.slice(0, 300)}`];
  const documented = op.operation.responses?.[String(status)];
  if (!documented) return [`${status} is not documented for ${op.method} ${op.path}: ${bodyText.slice(0, 300)}`];
  const schema = documented.content?.['application/json']?.schema;
  if (!schema) return [];
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return [`${status}: the body is not JSON: ${bodyText.slice(0, 100)}`];
  }
  return validate(doc, schema, body).map((e) => `${status} ${op.method} ${op.path}: ${e}`);
}
