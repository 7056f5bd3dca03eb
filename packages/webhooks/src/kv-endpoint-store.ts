import { Kvm, type KV } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ParleyError } from '@parley/protocol';
import type { WebhookEndpoint } from './endpoint.ts';
import type { EndpointStore } from './endpoint-store.ts';

export const ENDPOINTS_BUCKET = 'PARLEY_WEBHOOK_ENDPOINTS';

/**
 * Endpoints in a JetStream key-value bucket, key `<ns>.<id>`, so auth (which writes them) and
 * every dispatcher replica (which reads them) share one copy without sharing code or a database.
 */
export async function createKvEndpointStore(nc: NatsConnection, options: { replicas?: number; timeoutMs?: number; live?: boolean; /** Federation: the history region's JetStream domain, which holds the bucket for every region. */ domain?: string | undefined } = {}): Promise<EndpointStore> {
  let kv: KV;
  try {
    kv = await new Kvm(options.domain ? jetstream(nc, { domain: options.domain, timeout: options.timeoutMs ?? 3000 }) : nc).create(ENDPOINTS_BUCKET, { history: 1, replicas: options.replicas ?? 1, timeout: options.timeoutMs ?? 3000 });
  } catch (error) {
    throw new ParleyError('unavailable', `webhook endpoints need JetStream: ${(error as Error).message}`);
  }
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof ParleyError) throw error;
      throw new ParleyError('unavailable', `webhook endpoint store: ${(error as Error).message}`);
    }
  };
  const read = async (key: string) => {
    const entry = await kv.get(key);
    return entry && entry.operation === 'PUT' ? entry.json<WebhookEndpoint>() : undefined;
  };
  const live = options.live ? await watchEndpoints(kv) : undefined;
  return {
    put: (endpoint) => guard(async () => void (await kv.put(`${endpoint.ns}.${endpoint.id}`, JSON.stringify(endpoint)))),
    get: (ns, id) => guard(() => read(`${ns}.${id}`)),
    list: (ns) =>
      guard(async () => {
        // Frozen when loaded: shared with every caller instead of copied per event.
        if (live) return [...(live.get(ns)?.values() ?? [])].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
        const found: WebhookEndpoint[] = [];
        for await (const key of await kv.keys(`${ns}.*`)) {
          const endpoint = await read(key);
          if (endpoint) found.push(endpoint);
        }
        return found.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      }),
    tenants: () =>
      guard(async () => {
        if (live) return [...live.entries()].filter(([, endpoints]) => endpoints.size > 0).map(([ns]) => ns);
        const found = new Set<string>();
        for await (const key of await kv.keys('>')) found.add(key.split('.')[0]!);
        return [...found];
      }),
    delete: (ns, id) =>
      guard(async () => {
        if (!(await read(`${ns}.${id}`))) return false;
        await kv.delete(`${ns}.${id}`);
        return true;
      }),
    async close() {
      live?.stop();
    },
  };
}

/**
 * Every endpoint of the bucket, kept current by a watch (updates arrive within milliseconds of the
 * write): what a dispatcher reads for each event, without a request per event. Resolves once the
 * bucket's existing entries are loaded.
 */
async function watchEndpoints(kv: KV): Promise<Map<string, Map<string, WebhookEndpoint>> & { stop(): void }> {
  const byTenant = new Map<string, Map<string, WebhookEndpoint>>();
  const empty = (await kv.status()).values === 0;
  const watch = await kv.watch({ key: '>' });
  let loaded: () => void = () => {};
  const initial = new Promise<void>((resolve) => (loaded = resolve));
  if (empty) loaded();
  void (async () => {
    for await (const entry of watch) {
      const [ns, id] = entry.key.split('.');
      if (ns && id) {
        if (entry.operation === 'PUT') {
          const tenant = byTenant.get(ns) ?? new Map<string, WebhookEndpoint>();
          tenant.set(id, deepFreeze(entry.json<WebhookEndpoint>()));
          byTenant.set(ns, tenant);
        } else byTenant.get(ns)?.delete(id);
      }
      if (!entry.delta) loaded(); // nothing pending on the watch: the existing entries are in
    }
  })();
  await initial;
  return Object.assign(byTenant, { stop: () => watch.stop() });
}

function deepFreeze(endpoint: WebhookEndpoint): WebhookEndpoint {
  Object.freeze(endpoint.events);
  return Object.freeze(endpoint);
}
