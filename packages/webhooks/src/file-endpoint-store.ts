import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WebhookEndpoint } from './endpoint.ts';
import { createMemoryEndpointStore, type EndpointStore } from './endpoint-store.ts';

/**
 * Endpoints in `<dataDir>/webhooks.json` (mode 0600: it holds the signing secrets), for the single
 * process; rewritten whole, through a temporary file and a rename, on every change.
 */
export async function createFileEndpointStore(dataDir: string): Promise<EndpointStore> {
  const path = join(dataDir, 'webhooks.json');
  const memory = createMemoryEndpointStore();
  const all = new Map<string, WebhookEndpoint>();
  try {
    for (const endpoint of JSON.parse(await readFile(path, 'utf8')) as WebhookEndpoint[]) {
      all.set(`${endpoint.ns}.${endpoint.id}`, endpoint);
      await memory.put(endpoint);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${path}: ${(error as Error).message}`);
  }
  let writing = Promise.resolve();
  const save = () => {
    const text = JSON.stringify([...all.values()], null, 2);
    writing = writing.then(async () => {
      await mkdir(dataDir, { recursive: true });
      await writeFile(`${path}.tmp`, text, { mode: 0o600 });
      await rename(`${path}.tmp`, path);
    });
    return writing;
  };
  return {
    async put(endpoint) {
      all.set(`${endpoint.ns}.${endpoint.id}`, structuredClone(endpoint));
      await memory.put(endpoint);
      await save();
    },
    get: (ns, id) => memory.get(ns, id),
    list: (ns) => memory.list(ns),
    tenants: () => memory.tenants(),
    async delete(ns, id) {
      if (!all.delete(`${ns}.${id}`)) return false;
      await memory.delete(ns, id);
      await save();
      return true;
    },
    async close() {
      await writing;
    },
  };
}
