import { ConfigError, envList, readConfig, z } from '@parley/config';

/** A region's name: also its NATS JetStream domain, so no dots, wildcards or spaces. */
export const REGION_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

/**
 * Where this installation sits in a federation: its region, every region (its own included), and
 * the region whose JetStream domain holds the history streams (the others mirror them).
 */
export interface FederationConfig {
  region: string;
  regions: readonly string[];
  historyRegion: string;
}

export const FEDERATION_ENV = {
  region: 'PARLEY_REGION',
  regions: 'PARLEY_FEDERATION_REGIONS',
  historyRegion: 'PARLEY_HISTORY_REGION',
} as const;

const region = z.string().regex(REGION_PATTERN, 'a region is 1-32 characters of a-z, 0-9 and "-" (it is the NATS JetStream domain)');
const schema = z.object({
  region: region.optional(),
  regions: envList().pipe(z.array(region)),
  historyRegion: region.optional(),
});

/**
 * The federation settings, or undefined without `PARLEY_REGION` (one installation on its own).
 * `PARLEY_FEDERATION_REGIONS` lists every region; `PARLEY_HISTORY_REGION` defaults to its first.
 */
export function readFederationConfig(env: Record<string, string | undefined>): Readonly<FederationConfig> | undefined {
  const config = readConfig(schema, FEDERATION_ENV, env);
  if (!config.region) {
    if (config.regions.length > 0 || config.historyRegion) throw new ConfigError(`${FEDERATION_ENV.regions} and ${FEDERATION_ENV.historyRegion} need ${FEDERATION_ENV.region} (this installation's region)`);
    return undefined;
  }
  const regions = config.regions.length > 0 ? [...new Set(config.regions)] : [config.region];
  if (!regions.includes(config.region)) throw new ConfigError(`${FEDERATION_ENV.regions} (${regions.join(',')}) must list ${FEDERATION_ENV.region} (${config.region})`);
  const historyRegion = config.historyRegion ?? regions[0]!;
  if (!regions.includes(historyRegion)) throw new ConfigError(`${FEDERATION_ENV.historyRegion} (${historyRegion}) must be one of ${FEDERATION_ENV.regions} (${regions.join(',')})`);
  return Object.freeze({ region: config.region, regions: Object.freeze(regions), historyRegion });
}

/**
 * The history region, when it is another region than this one: where this region reaches the
 * federation's shared JetStream state (history origins, webhook endpoints). Undefined in the
 * history region itself and without federation.
 */
export function remoteHistoryRegion(config: FederationConfig | undefined): string | undefined {
  return config && config.region !== config.historyRegion ? config.historyRegion : undefined;
}
