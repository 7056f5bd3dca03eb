import { Registry, collectDefaultMetrics } from 'prom-client';

export { Registry };

/** A registry per service with process and event-loop metrics; services add their own. */
export function createMetricsRegistry(service: string, options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'parley_' });
  return registry;
}
