import { Kvm, type KV } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ParleyError } from '@parley/protocol';
import { mergeEndpointStates, type DispatcherEndpointState, type EndpointStateStore } from './endpoint-state.ts';

export const STATE_BUCKET = 'PARLEY_WEBHOOK_STATE';

/** A dispatcher id as one key token (letters, digits, `_`, `-`). */
const token = (dispatcher: string) => dispatcher.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || 'dispatcher';

/**
 * Endpoint delivery state in a JetStream key-value bucket, key `<ns>.<id>.<dispatcher>`: each
 * dispatcher replica writes its own record, auth reads and merges them.
 */
export async function createKvEndpointStateStore(nc: NatsConnection, options: { replicas?: number; timeoutMs?: number; /** Federation: the history region's JetStream domain, which holds the bucket for every region. */ domain?: string | undefined } = {}): Promise<EndpointStateStore> {
  let kv: KV;
  try {
    kv = await new Kvm(options.domain ? jetstream(nc, { domain: options.domain, timeout: options.timeoutMs ?? 3000 }) : nc).create(STATE_BUCKET, { history: 1, replicas: options.replicas ?? 1, timeout: options.timeoutMs ?? 3000 });
  } catch (error) {
    throw new ParleyError('unavailable', `webhook endpoint state needs JetStream: ${(error as Error).message}`);
  }
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw new ParleyError('unavailable', `webhook endpoint state: ${(error as Error).message}`);
    }
  };
  const records = async (ns: string, id: string) => {
    const keys: string[] = [];
    for await (const key of await kv.keys(`${ns}.${id}.*`)) keys.push(key);
    return keys;
  };
  return {
    report: (ns, id, dispatcher, state) => guard(async () => void (await kv.put(`${ns}.${id}.${token(dispatcher)}`, JSON.stringify(state)))),
    read: (ns, id) =>
      guard(async () => {
        const states: DispatcherEndpointState[] = [];
        for (const key of await records(ns, id)) {
          const entry = await kv.get(key);
          if (entry?.operation === 'PUT') states.push(entry.json<DispatcherEndpointState>());
        }
        return mergeEndpointStates(states);
      }),
    forget: (ns, id) => guard(async () => void (await Promise.all((await records(ns, id)).map((key) => kv.purge(key))))),
    async close() {},
  };
}
