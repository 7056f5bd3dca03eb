/**
 * Runs the chart's services on loopback with exactly the environment the chart gives them.
 *
 * `processFromChart` takes the objects of `helm template` and one component, and returns the
 * command (the container's args) and the environment of its container, resolved the way the
 * kubelet would: ConfigMap and Secret references read from the rendered objects, the downward API
 * (pod name, namespace) filled in, mounted Secrets/ConfigMaps/emptyDirs written to a temporary
 * folder. These things are translated for loopback and nothing else:
 *   - in-cluster Service URLs (`http://<svc>[.<ns>[.svc[.cluster.local]]]:<port>`) point at
 *     127.0.0.1 and the port where that component runs (`servicePorts`);
 *   - HOST is 127.0.0.1 (tests listen on loopback only) and PORT is the process's own port;
 *     PARLEY_METRICS_PORT, when set, is 0 (any free port: every pod has the same one);
 *   - values under a mount path (PARLEY_SIGNING_KEYS_DIR, PARLEY_DATA_DIR, …) point into the
 *     folder where the volume was materialised.
 * External systems (NATS_URL, REDIS_URL) are not translated: render the chart with
 * `nats.url`/`redis.url` set to the test servers' loopback URLs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { at, type K8sObject } from './chart.ts';
import type { Component } from './env-contract.ts';

export interface ProcessFromChartOptions {
  /** The port this process listens on (its PORT). */
  port: number;
  /** Where each component's Service leads on loopback; a component without an entry is not rewritten. */
  servicePorts: Partial<Record<Component, number>>;
  /** A folder (e.g. a test's temp dir) under which the pod's volumes are written. */
  mountRoot: string;
  /** The pod name the downward API gives (PARLEY_GATEWAY_ID); default `<deployment>-0`. */
  podName?: string;
  /** Contents of Secrets the chart references but does not render (existingSecret values): name → key → value. */
  secrets?: Record<string, Record<string, string>>;
}

export interface ChartProcess {
  component: Component;
  /** The container's args, e.g. ['node', 'services/gateway/src/main.ts'], to run from the repository root. */
  command: string[];
  /** The container's environment, resolved and translated for loopback. */
  env: Record<string, string>;
  /** The folder standing for this pod's filesystem mounts. */
  podRoot: string;
  /** HTTP paths of the probes. */
  probes: { startup?: string; liveness?: string; readiness?: string };
  /** The pod's terminationGracePeriodSeconds and preStop sleep (seconds). */
  terminationGracePeriodSeconds: number;
  preStopSleepSeconds: number;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}

interface Volume {
  name: string;
  emptyDir?: unknown;
  secret?: { secretName: string; items?: Array<{ key: string; path: string }> };
  configMap?: { name: string; items?: Array<{ key: string; path: string }> };
}

/** ConfigMap or Secret data as strings (Secret data is base64 in the manifest). */
function objectData(objects: K8sObject[], kind: 'ConfigMap' | 'Secret', name: string, extra: ProcessFromChartOptions['secrets']): Record<string, string> | undefined {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found) {
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries((found.data ?? {}) as Record<string, string>)) {
      data[key] = kind === 'Secret' ? Buffer.from(value, 'base64').toString('utf8') : value;
    }
    for (const [key, value] of Object.entries((found.stringData ?? {}) as Record<string, string>)) data[key] = value;
    return data;
  }
  return kind === 'Secret' ? extra?.[name] : undefined;
}

function serviceUrlRewrites(objects: K8sObject[], servicePorts: ProcessFromChartOptions['servicePorts']): Array<[RegExp, string]> {
  const rewrites: Array<[RegExp, string]> = [];
  for (const service of objects.filter((o) => o.kind === 'Service')) {
    const component = service.metadata.labels?.['app.kubernetes.io/component'] as Component | undefined;
    const loopbackPort = component ? servicePorts[component] : undefined;
    if (loopbackPort === undefined) continue;
    const name = service.metadata.name.replace(/[.]/g, '\\.');
    const ns = (service.metadata.namespace ?? 'default').replace(/[.]/g, '\\.');
    for (const port of at<Array<{ port: number }>>(service, 'spec', 'ports') ?? []) {
      const host = `${name}(?:\\.${ns}(?:\\.svc(?:\\.cluster\\.local)?)?)?`;
      rewrites.push([new RegExp(`(\\w+://)${host}:${port.port}(?=[/?#,]|$)`, 'g'), `$1127.0.0.1:${loopbackPort}`]);
    }
  }
  return rewrites;
}

/** The process a component's Deployment runs, ready to spawn on loopback. */
export function processFromChart(objects: K8sObject[], component: Component, options: ProcessFromChartOptions): ChartProcess {
  const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === component);
  if (!deployment) throw new Error(`no Deployment for component ${component}`);
  const podSpec = at<Record<string, unknown>>(deployment, 'spec', 'template', 'spec');
  const container = at<Record<string, unknown>>(podSpec, 'containers', 0);
  if (!container) throw new Error(`Deployment ${deployment.metadata.name} has no container`);
  const namespace = deployment.metadata.namespace ?? 'default';
  const podName = options.podName ?? `${deployment.metadata.name}-0`;
  const podRoot = join(options.mountRoot, podName);

  // Volumes first: env values under a mount path are rewritten into podRoot.
  const volumes = new Map((at<Volume[]>(podSpec, 'volumes') ?? []).map((v) => [v.name, v]));
  const mountPaths: string[] = [];
  for (const mount of at<Array<{ name: string; mountPath: string }>>(container, 'volumeMounts') ?? []) {
    const volume = volumes.get(mount.name);
    if (!volume) throw new Error(`volumeMount ${mount.name} has no volume`);
    const target = join(podRoot, mount.mountPath);
    mkdirSync(target, { recursive: true });
    mountPaths.push(mount.mountPath);
    const source = volume.secret
      ? { kind: 'Secret' as const, name: volume.secret.secretName, items: volume.secret.items }
      : volume.configMap
        ? { kind: 'ConfigMap' as const, name: volume.configMap.name, items: volume.configMap.items }
        : undefined;
    if (!source) continue; // emptyDir: the empty folder is all there is
    const data = objectData(objects, source.kind, source.name, options.secrets);
    if (!data) throw new Error(`${source.kind} ${source.name} (volume ${mount.name}) is neither rendered nor given in options.secrets`);
    const items = source.items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const item of items) {
      const value = data[item.key];
      if (value === undefined) throw new Error(`${source.kind} ${source.name} has no key ${item.key}`);
      mkdirSync(dirname(join(target, item.path)), { recursive: true });
      writeFileSync(join(target, item.path), value, { mode: 0o600 });
    }
  }
  // Longest mount path first, so /etc/parley/signing-keys wins over a mount at /etc.
  mountPaths.sort((a, b) => b.length - a.length);

  const rewrites = serviceUrlRewrites(objects, options.servicePorts);
  const env: Record<string, string> = {};
  for (const entry of at<EnvVar[]>(container, 'env') ?? []) {
    let value: string | undefined = entry.value;
    const from = entry.valueFrom;
    if (from?.configMapKeyRef) {
      value = objectData(objects, 'ConfigMap', from.configMapKeyRef.name, undefined)?.[from.configMapKeyRef.key];
      if (value === undefined && !from.configMapKeyRef.optional) throw new Error(`${entry.name}: ConfigMap ${from.configMapKeyRef.name} has no key ${from.configMapKeyRef.key}`);
    } else if (from?.secretKeyRef) {
      value = objectData(objects, 'Secret', from.secretKeyRef.name, options.secrets)?.[from.secretKeyRef.key];
      if (value === undefined && !from.secretKeyRef.optional) throw new Error(`${entry.name}: Secret ${from.secretKeyRef.name} key ${from.secretKeyRef.key} is neither rendered nor given in options.secrets`);
    } else if (from?.fieldRef) {
      const field = from.fieldRef.fieldPath;
      if (field === 'metadata.name') value = podName;
      else if (field === 'metadata.namespace') value = namespace;
      else throw new Error(`${entry.name}: fieldRef ${field} is not supported on loopback`);
    }
    if (value === undefined) continue;
    for (const [pattern, replacement] of rewrites) value = value.replace(pattern, replacement);
    const mountPath = mountPaths.find((m) => value === m || value!.startsWith(`${m}/`));
    if (mountPath) value = join(podRoot, value);
    env[entry.name] = value;
  }
  env.HOST = '127.0.0.1';
  env.PORT = String(options.port);
  if (env.PARLEY_METRICS_PORT) env.PARLEY_METRICS_PORT = '0';

  const probePath = (name: string) => at<string>(container, name, 'httpGet', 'path');
  const preStop = at<string[]>(container, 'lifecycle', 'preStop', 'exec', 'command') ?? [];
  return {
    component,
    command: at<string[]>(container, 'args') ?? [],
    env,
    podRoot,
    probes: { startup: probePath('startupProbe'), liveness: probePath('livenessProbe'), readiness: probePath('readinessProbe') },
    terminationGracePeriodSeconds: Number(at(podSpec, 'terminationGracePeriodSeconds') ?? 30),
    preStopSleepSeconds: preStop[0] === 'sleep' ? Number(preStop[1]) : 0,
  };
}
