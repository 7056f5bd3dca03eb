import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** The label that names a tenant: removed from public `/metrics` unless the operator turns it on. */
export const TENANT_LABEL = 'tenant';

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * A Prometheus text exposition without tenant names: every sample's `tenant` label is removed
 * and samples that then have the same name and labels are added up (the total over tenants).
 */
export function withoutTenantLabels(text: string): string {
  const out: string[] = [];
  /** Samples of the current family, by name and remaining labels, in first-seen order. */
  let pending = new Map<string, number>();
  const flush = () => {
    for (const [series, value] of pending) out.push(`${series} ${value}`);
    pending = new Map();
  };
  for (const line of text.split('\n')) {
    const m = line.startsWith('#') ? null : SAMPLE.exec(line);
    if (!m || m[2] === undefined || !m[2].includes(`${TENANT_LABEL}="`)) {
      flush();
      out.push(line);
      continue;
    }
    const labels = [...m[2].matchAll(LABEL)].filter((l) => l[1] !== TENANT_LABEL).map((l) => l[0]);
    const series = labels.length > 0 ? `${m[1]}{${labels.join(',')}}` : (m[1] as string);
    pending.set(series, (pending.get(series) ?? 0) + Number(m[3]));
  }
  flush();
  return out.join('\n');
}

/**
 * The `/metrics` page of a public port: without tenant names unless `tenantLabels` is set
 * (`PARLEY_METRICS_TENANT_LABELS`); a private metrics port (`PARLEY_METRICS_PORT`) always has them.
 */
export async function renderMetrics(registry: Registry, options: { tenantLabels: boolean }): Promise<string> {
  const text = await registry.metrics();
  return options.tenantLabels ? text : withoutTenantLabels(text);
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A private metrics listener (`PARLEY_METRICS_PORT`): `GET /metrics` with every label, tenants
 * included, for Prometheus inside the cluster; anything else is 404. Keep the port off the
 * public network (the chart does not route it through the ingress).
 */
export function startMetricsServer(options: { host: string; port: number; registry: Registry; beforeScrape?: () => void }): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'not_found', message: 'only GET /metrics is served here', temporary: false }));
      return;
    }
    options.beforeScrape?.();
    options.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'internal', message: 'internal error', temporary: true })),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}
