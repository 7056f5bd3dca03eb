import { z } from 'zod';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads a service's settings from the environment, validated once at boot. `schema` gives types
 * and defaults; `envNames` maps each setting to its environment variable. Values are strings in
 * the environment, so number and boolean fields should use `z.coerce` or the helpers below.
 * Errors name the variable. The result is frozen.
 */
export function readConfig<T extends z.ZodRawShape>(
  schema: z.ZodObject<T>,
  envNames: { [K in keyof T]: string },
  env: Record<string, string | undefined>,
): Readonly<z.infer<z.ZodObject<T>>> {
  const input: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(envNames) as Array<[string, string]>) {
    const value = env[name];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const result = schema.strict().safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const name = (envNames as Record<string, string>)[key] ?? key;
      return `${name}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return Object.freeze(result.data);
}

/** `true`/`false`/`1`/`0`/`yes`/`no` from the environment. */
export const envBoolean = (fallback: boolean) =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])])
    .transform((v) => v === true || v === 'true' || v === '1' || v === 'yes')
    .default(fallback);

/** A comma-separated list. */
export const envList = () =>
  z
    .union([z.array(z.string()), z.string()])
    .transform((v) => (Array.isArray(v) ? v : v.split(',').map((s) => s.trim()).filter(Boolean)))
    .default([]);

export const envPort = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

export { z };
export { createClientAddressResolver } from './client-address.ts';
