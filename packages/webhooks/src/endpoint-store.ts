import type { WebhookEndpoint } from './endpoint.ts';

/**
 * Where webhook endpoints live (with their secrets). Implementations: memory (one process) and a
 * JetStream key-value bucket (shared by auth, which writes, and every dispatcher, which reads).
 * Rejects with ParleyError `unavailable` when the backing store cannot be reached.
 */
export interface EndpointStore {
  put(endpoint: WebhookEndpoint): Promise<void>;
  get(ns: string, id: string): Promise<WebhookEndpoint | undefined>;
  /** A tenant's endpoints, oldest first. */
  list(ns: string): Promise<WebhookEndpoint[]>;
  /** The tenants that have at least one endpoint. */
  tenants(): Promise<string[]>;
  /** False when there was none. */
  delete(ns: string, id: string): Promise<boolean>;
  close(): Promise<void>;
}

export function createMemoryEndpointStore(): EndpointStore {
  const endpoints = new Map<string, WebhookEndpoint>();
  const key = (ns: string, id: string) => `${ns}.${id}`;
  return {
    async put(endpoint) {
      endpoints.set(key(endpoint.ns, endpoint.id), structuredClone(endpoint));
    },
    async get(ns, id) {
      const found = endpoints.get(key(ns, id));
      return found && structuredClone(found);
    },
    async list(ns) {
      return [...endpoints.values()].filter((e) => e.ns === ns).sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map((e) => structuredClone(e));
    },
    async tenants() {
      return [...new Set([...endpoints.values()].map((e) => e.ns))];
    },
    async delete(ns, id) {
      return endpoints.delete(key(ns, id));
    },
    async close() {},
  };
}
