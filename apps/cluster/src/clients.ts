import type { Grants } from '@parley/protocol';
import { connectClient, type TestClient } from '@parley/testkit';
import type { Cluster } from './cluster.ts';
import type { ServiceProcess } from './service-process.ts';

export const ALL_GRANTS: Grants = { '*': ['subscribe', 'publish', 'presence', 'history'] };

/** Mints a user token through the real auth API with the demo tenant's (or the given) API key. */
export async function mintUserToken(cluster: Pick<Cluster, 'auth' | 'demoApiKey'>, user: string, options: { grants?: Grants; apiKey?: string; ttlSeconds?: number; info?: Record<string, unknown> } = {}): Promise<string> {
  const res = await fetch(`${cluster.auth.url}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${options.apiKey ?? cluster.demoApiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user, grants: options.grants ?? ALL_GRANTS, ...(options.ttlSeconds && { ttlSeconds: options.ttlSeconds }), ...(options.info && { info: options.info }) }),
  });
  const body = (await res.json()) as { token?: string };
  if (!res.ok || !body.token) throw new Error(`mint failed: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

export function wsUrl(gateway: ServiceProcess) {
  return `${gateway.url.replace('http', 'ws')}/v1/ws`;
}

/** Connects to a gateway with a token, waits for `welcome`, and joins `rooms`. */
export async function connectUser(gateway: ServiceProcess, token: string, rooms: string[] = []): Promise<TestClient> {
  const client = await connectClient(wsUrl(gateway), { token });
  await client.waitFor('welcome');
  for (const room of rooms) {
    const reply = await client.request({ type: 'join', room });
    if (reply.type !== 'joined') throw new Error(`join ${room}: ${JSON.stringify(reply)}`);
  }
  return client;
}
