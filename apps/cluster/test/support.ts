import { expect } from 'vitest';
import type { Cluster } from '../src/index.ts';

/** An admin API request with the cluster's admin token. */
export const admin = (cluster: Cluster, path: string, init: RequestInit = {}) =>
  fetch(`${cluster.auth.url}${path}`, { ...init, headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json', ...init.headers } });

/** Creates a tenant (with optional settings) through the admin API and returns a new API key of it. */
export async function createTenant(cluster: Cluster, ns: string, settings?: Record<string, unknown>): Promise<string> {
  expect((await admin(cluster, '/v1/admin/tenants', { method: 'POST', body: JSON.stringify({ ns, ...(settings && { settings }) }) })).status).toBe(201);
  const res = await admin(cluster, `/v1/admin/tenants/${ns}/keys`, { method: 'POST' });
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

/** The sum of a metric's samples (matching `labels`, when given) on a service's `/metrics`. */
export async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** Polls `condition` until it holds, or fails after `timeoutMs`. */
export async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
