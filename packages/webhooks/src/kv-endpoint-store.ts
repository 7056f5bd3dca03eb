import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ParleyError } from '@parley/protocol';
import type { WebhookEndpoint } from './endpoint.ts';
import type { EndpointStore } from './endpoint-store.ts';

export const ENDPOINTS_BUCKET = 'PARLEY_WEBHOOK_ENDPOINTS';

/**
 * Endpoints in a JetStream key-value bucket, key `<ns>.<id>`, so auth (which writes them) and
 * every dispatcher replica (which reads them) share one copy without sharing code or a database.
 */
export async function createKvEndpointStore(nc: NatsConnection, options: { replicas?: number; timeoutMs?: number } = {}): Promise<EndpointStore> {
  let kv: KV;
  try {
    kv = await new Kvm(nc).create(ENDPOINTS_BUCKET, { history: 1, replicas: options.replicas ?? 1, timeout: options.timeoutMs ?? 3000 });
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
  return {
    put: (endpoint) => guard(async () => void (await kv.put(`${endpoint.ns}.${endpoint.id}`, JSON.stringify(endpoint)))),
    get: (ns, id) => guard(() => read(`${ns}.${id}`)),
    list: (ns) =>
      guard(async () => {
        const found: WebhookEndpoint[] = [];
        for await (const key of await kv.keys(`${ns}.*`)) {
          const endpoint = await read(key);
          if (endpoint) found.push(endpoint);
        }
        return found.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      }),
    delete: (ns, id) =>
      guard(async () => {
        if (!(await read(`${ns}.${id}`))) return false;
        await kv.delete(`${ns}.${id}`);
        return true;
      }),
    async close() {},
  };
}
