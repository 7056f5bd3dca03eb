import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { at, findObject, renderChart, type K8sObject } from './support/chart.ts';
import { processFromChart } from './support/chart-env.ts';
import { COMPONENTS, loadEnvContract, type Component } from './support/env-contract.ts';
import { CHART_DIR } from './support/tools.ts';

const allFeatures = parse(readFileSync(fileURLToPath(new URL('./fixtures/all-features.yaml', import.meta.url)), 'utf8')) as Record<string, unknown>;
const contract = loadEnvContract();
const defaults = renderChart().objects;
const everything = renderChart({ values: allFeatures, apiVersions: ['monitoring.coreos.com/v1'] }).objects;
const mountRoot = mkdtempSync(join(tmpdir(), 'parley-chart-env-'));
afterAll(() => rmSync(mountRoot, { recursive: true, force: true }));

interface Container {
  name: string;
  args: string[];
  env: Array<{ name: string; value?: string; valueFrom?: Record<string, { name?: string; key?: string; fieldPath?: string }> }>;
  ports: Array<{ name: string; containerPort: number }>;
  securityContext: Record<string, unknown>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  [probe: string]: unknown;
}

const deployment = (objects: K8sObject[], component: Component) => findObject(objects, 'Deployment', `-${component}`);
const podSpec = (objects: K8sObject[], component: Component) => at<Record<string, unknown>>(deployment(objects, component), 'spec', 'template', 'spec');
const container = (objects: K8sObject[], component: Component) => at<Container>(podSpec(objects, component), 'containers', 0);
const envValue = (c: Container, name: string) => c.env.find((e) => e.name === name);

describe('chart behaviour', () => {
  it.each([
    ['default values', defaults],
    ['every feature on', everything],
  ])('chart - each grace period exceeds preStop sleep plus drain (%s)', (_label, objects) => {
    for (const component of COMPONENTS) {
      const spec = podSpec(objects, component);
      const c = container(objects, component);
      const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
      expect(preStop[0]).toBe('sleep');
      // Presence and the webhook dispatcher read no drain setting; their values give the time allowed after SIGTERM (5 s).
      const drainMs = component === 'presence' || component === 'webhooks' ? 5000 : Number(envValue(c, 'PARLEY_DRAIN_MS')?.value);
      expect(drainMs).toBeGreaterThan(0);
      const grace = Number(spec.terminationGracePeriodSeconds);
      expect(grace, component).toBeGreaterThan(Number(preStop[1]) + drainMs / 1000);
    }
    // The gateway drain is the documented default (10 s) or the configured one (30 s).
    expect(envValue(container(defaults, 'gateway'), 'PARLEY_DRAIN_MS')?.value).toBe('10000');
    expect(envValue(container(everything, 'gateway'), 'PARLEY_DRAIN_MS')?.value).toBe('30000');
    expect(podSpec(defaults, 'gateway').terminationGracePeriodSeconds).toBe(25);
  });

  it('chart - probes hit /healthz and /readyz on the named container port the Service targets', () => {
    for (const component of COMPONENTS) {
      const c = container(defaults, component);
      expect(c.ports).toEqual([
        { name: 'http', containerPort: contract[component].port, protocol: 'TCP' },
        { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
      ]);
      expect(at(c, 'startupProbe', 'httpGet')).toEqual({ path: '/healthz', port: 'http' });
      expect(at(c, 'livenessProbe', 'httpGet')).toEqual({ path: '/healthz', port: 'http' });
      expect(at(c, 'readinessProbe', 'httpGet')).toEqual({ path: '/readyz', port: 'http' });
      const service = findObject(defaults, 'Service', `-${component}`);
      expect(at(service, 'spec', 'ports', 0)).toMatchObject({ name: 'http', port: contract[component].port, targetPort: 'http' });
      // Metrics (tenant names included) on their own port, for Prometheus only.
      expect(at(service, 'spec', 'ports', 1)).toMatchObject({ name: 'metrics', port: 9090, targetPort: 'metrics' });
      expect(at(service, 'spec', 'selector')).toEqual(at(deployment(defaults, component), 'spec', 'selector', 'matchLabels'));
      expect(envValue(c, 'PORT')?.value).toBe(String(contract[component].port));
    }
  });

  it('chart - every container runs the production command of env-contract.json', () => {
    for (const component of COMPONENTS) expect(container(defaults, component).args).toEqual(contract[component].command);
  });

  it.each([
    ['default values', defaults, {}],
    ['every feature on', everything, {
      secrets: {
        'parley-nats': { url: 'nats://user:pw@nats:4222' },
        'parley-redis': { uri: 'rediss://:pw@redis:6380' },
        'parley-admin': { token: 'x'.repeat(32) },
        'parley-signing-keys': { 'es256-2026-11.private.jwk.json': '{}' },
        'parley-ca': { 'ca.crt': 'PEM' },
      },
    }],
  ])('chart - every variable the services read is set, and required ones are not empty (%s)', (_label, objects, extra) => {
    for (const component of COMPONENTS) {
      const names = container(objects, component).env.map((e) => e.name);
      expect(new Set(names).size, `${component}: a variable is set twice`).toBe(names.length);
      const resolved = processFromChart(objects, component, { port: 1, servicePorts: {}, mountRoot, ...extra }).env;
      for (const [name, spec] of Object.entries(contract[component].env)) {
        expect(resolved, `${component} ${name}`).toHaveProperty(name);
        if (!spec.optional) expect(resolved[name], `${component} ${name}`).not.toBe('');
      }
    }
  });

  it('chart - a federated region: every service gets the region settings; gateways and auth share the history region\'s moderation Redis', () => {
    const objects = renderChart({
      values: { federation: { region: 'eu', regions: ['us', 'eu'], historyRegion: 'us', natsMonitorUrl: 'http://nats:8222', moderationRedis: { url: 'redis://redis.us.example:6379' } } },
    }).objects;
    for (const component of COMPONENTS) {
      const env = processFromChart(objects, component, { port: 1, servicePorts: {}, mountRoot }).env;
      expect(env, component).toMatchObject({ PARLEY_REGION: 'eu', PARLEY_FEDERATION_REGIONS: 'us,eu', PARLEY_HISTORY_REGION: 'us' });
      if (component === 'gateway' || component === 'auth') expect(env.PARLEY_MODERATION_REDIS_URL, component).toBe('redis://redis.us.example:6379');
    }
    expect(processFromChart(objects, 'presence', { port: 1, servicePorts: {}, mountRoot }).env.PARLEY_NATS_MONITOR_URL).toBe('http://nats:8222');
    // Without federation the settings are empty (unset for the services) and moderation is the gateways' Redis.
    const single = processFromChart(defaults, 'gateway', { port: 1, servicePorts: {}, mountRoot }).env;
    expect(single.PARLEY_REGION).toBe('');
    expect(single.PARLEY_MODERATION_REDIS_URL).toBe(single.REDIS_URL);
  });

  it('chart - pods run as uid 10001 without privileges on a read-only root filesystem', () => {
    const pods = [...COMPONENTS.map((c) => podSpec(defaults, c)), at<Record<string, unknown>>(findObject(defaults, 'Pod'), 'spec')];
    for (const spec of pods) {
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
      expect(spec.automountServiceAccountToken).toBe(false);
      for (const c of at<Container[]>(spec, 'containers')) {
        expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
      }
    }
    for (const component of COMPONENTS) {
      // The only writable place is /tmp, an emptyDir.
      const tmp = container(defaults, component).volumeMounts.find((m) => m.mountPath === '/tmp');
      const volume = at<Array<{ name: string; emptyDir?: unknown }>>(podSpec(defaults, component), 'volumes').find((v) => v.name === tmp?.name);
      expect(volume?.emptyDir).toBeDefined();
    }
  });

  it('chart - replicas spread over nodes and zones, and disruption budgets cover every component', () => {
    for (const component of COMPONENTS) {
      const spread = at<Array<{ topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }>>(podSpec(defaults, component), 'topologySpreadConstraints');
      expect(spread.map((s) => s.topologyKey)).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
      for (const s of spread) expect(s.labelSelector.matchLabels['app.kubernetes.io/component']).toBe(component);
      const pdb = findObject(defaults, 'PodDisruptionBudget', `-${component}`);
      expect(at(pdb, 'spec', 'selector', 'matchLabels')).toEqual(at(deployment(defaults, component), 'spec', 'selector', 'matchLabels'));
      expect(at(pdb, 'spec', 'maxUnavailable')).toBe(1);
    }
    expect(at(findObject(everything, 'PodDisruptionBudget', '-auth'), 'spec', 'minAvailable')).toBe(1);
    expect(at(podSpec(everything, 'presence'), 'topologySpreadConstraints', 0, 'whenUnsatisfiable')).toBe('DoNotSchedule');
  });

  it('chart - the pod template checksum changes with the settings, so pods roll on a config change', () => {
    const checksum = (objects: K8sObject[]) => at<string>(deployment(objects, 'gateway'), 'spec', 'template', 'metadata', 'annotations', 'checksum/config');
    const changed = renderChart({ set: ['logLevel=debug'] }).objects;
    expect(checksum(defaults)).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(renderChart().objects)).toBe(checksum(defaults));
    expect(checksum(changed)).not.toBe(checksum(defaults));
  });

  it('chart - the gateway reaches the auth JWKS and presence reaches auth through the auth Service', () => {
    const config = findObject(defaults, 'ConfigMap', '-config');
    const service = findObject(defaults, 'Service', '-auth');
    const host = `${service.metadata.name}.${service.metadata.namespace}.svc:${contract.auth.port}`;
    expect(at(config, 'data', 'PARLEY_JWKS_URL')).toBe(`http://${host}/.well-known/jwks.json`);
    expect(at(config, 'data', 'PARLEY_AUTH_URL')).toBe(`http://${host}`);
    expect(envValue(container(defaults, 'gateway'), 'PARLEY_GATEWAY_ID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
  });

  it('chart - the generated signing key is a valid ES256 private JWK named after the active key id', () => {
    const secret = findObject(defaults, 'Secret', '-signing-keys');
    const data = at<Record<string, string>>(secret, 'data');
    expect(Object.keys(data)).toEqual(['default.private.jwk.json']);
    const jwk = JSON.parse(Buffer.from(data['default.private.jwk.json']!, 'base64').toString('utf8')) as JsonWebKey & { kid: string; alg: string; use: string };
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: 'default', alg: 'ES256', use: 'sig' });
    const publicJwk = createPublicKey(createPrivateKey({ key: jwk, format: 'jwk' })).export({ format: 'jwk' });
    expect([publicJwk.x, publicJwk.y]).toEqual([jwk.x, jwk.y]);
    const auth = container(defaults, 'auth');
    expect(envValue(auth, 'PARLEY_SIGNING_KEYS_DIR')?.value).toBe('/etc/parley/signing-keys');
    expect(auth.volumeMounts).toContainEqual({ name: 'signing-keys', mountPath: '/etc/parley/signing-keys', readOnly: true });
    const admin = Buffer.from(at<string>(findObject(defaults, 'Secret', '-admin-token'), 'data', 'admin-token'), 'base64').toString('utf8');
    expect(admin).toMatch(/^[A-Za-z0-9]{48}$/);
  });

  it('chart - existing Secrets are referenced, never rendered', () => {
    expect(everything.filter((o) => o.kind === 'Secret')).toEqual([]);
    const config = findObject(everything, 'ConfigMap', '-config');
    expect(at(config, 'data', 'NATS_URL')).toBeUndefined();
    expect(at(config, 'data', 'REDIS_URL')).toBeUndefined();
    for (const component of COMPONENTS) {
      const c = container(everything, component);
      expect(envValue(c, 'NATS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'parley-nats', key: 'url' });
      expect(envValue(c, 'REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'parley-redis', key: 'uri' });
      expect(envValue(c, 'NODE_EXTRA_CA_CERTS')?.value).toBe('/etc/parley/trusted-ca/ca.crt');
    }
    const auth = container(everything, 'auth');
    expect(envValue(auth, 'PARLEY_ADMIN_TOKEN')?.valueFrom?.secretKeyRef).toEqual({ name: 'parley-admin', key: 'token' });
    const volumes = at<Array<{ name: string; secret?: { secretName: string } }>>(podSpec(everything, 'auth'), 'volumes');
    expect(volumes.find((v) => v.name === 'signing-keys')?.secret?.secretName).toBe('parley-signing-keys');
    expect(at(config, 'data', 'PARLEY_ACTIVE_KEY_ID')).toBe('es256-2026-11');
  });

  it('chart - with the HPA on, the gateway Deployment leaves replicas to it, scaling on CPU and connections', () => {
    expect(at(deployment(defaults, 'gateway'), 'spec', 'replicas')).toBe(2);
    expect(defaults.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false);
    expect(at(deployment(everything, 'gateway'), 'spec', 'replicas')).toBeUndefined();
    const hpa = findObject(everything, 'HorizontalPodAutoscaler', '-gateway');
    expect(at(hpa, 'spec', 'scaleTargetRef', 'name')).toBe(deployment(everything, 'gateway').metadata.name);
    expect(at(hpa, 'spec', 'metrics', 0, 'resource')).toEqual({ name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } });
    expect(at(hpa, 'spec', 'metrics', 1, 'pods', 'metric', 'name')).toBe('parley_gateway_connections');
  });

  it('chart - the Ingress sends /v1/ws to the gateway with WebSocket timeouts of at least an hour', () => {
    const gateway = findObject(everything, 'Service', '-gateway').metadata.name;
    const presence = findObject(everything, 'Service', '-presence').metadata.name;
    const ingress = findObject(everything, 'Ingress');
    const annotations = ingress.metadata.annotations ?? {};
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(3600);
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThanOrEqual(3600);
    type Rule = { host: string; http: { paths: Array<{ path: string; pathType: string; backend: { service: { name: string } } }> } };
    const rules = at<Rule[]>(ingress, 'spec', 'rules');
    expect(rules.map((r) => r.host)).toEqual(['chat.example.com', '*.chat.example.com', 'presence.chat.example.com']);
    expect(rules[0]!.http.paths[0]).toMatchObject({ path: '/v1/ws', pathType: 'Exact', backend: { service: { name: gateway } } });
    // A route with its own host goes only there.
    expect(rules[0]!.http.paths.some((p) => p.backend.service.name === presence)).toBe(false);
    expect(rules[2]!.http.paths).toEqual([{ path: '/', pathType: 'Prefix', backend: { service: { name: presence, port: { name: 'http' } } } }]);

    const routes = everything.filter((o) => o.kind === 'HTTPRoute');
    expect(routes.map((r) => at<string[]>(r, 'spec', 'hostnames'))).toEqual([['chat.example.com'], ['presence.chat.example.com']]);
    expect(at(routes[0], 'spec', 'rules', 0, 'backendRefs', 0)).toEqual({ name: gateway, port: 8080 });
    expect(at(routes[0], 'spec', 'rules', 0, 'timeouts')).toEqual({ request: '0s' });
    expect(at(routes[1], 'spec', 'rules', 0, 'matches', 0, 'path')).toEqual({ type: 'PathPrefix', value: '/' });
  });

  it('chart - ServiceMonitors and the PrometheusRule appear only when the cluster serves monitoring.coreos.com/v1', () => {
    const kinds = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'ServiceMonitor' || o.kind === 'PrometheusRule').length;
    expect(kinds(defaults)).toBe(0);
    expect(kinds(renderChart({ apiVersions: ['monitoring.coreos.com/v1'], set: ['metrics.serviceMonitor.enabled=false', 'metrics.prometheusRule.enabled=false'] }).objects)).toBe(0);
    const monitors = everything.filter((o) => o.kind === 'ServiceMonitor');
    expect(monitors.map((m) => m.metadata.labels?.['app.kubernetes.io/component']).sort()).toEqual(['auth', 'gateway', 'presence', 'webhooks']);
    for (const monitor of monitors) {
      expect(monitor.metadata.labels?.release).toBe('kube-prometheus-stack');
      expect(at(monitor, 'spec', 'endpoints', 0)).toMatchObject({ port: 'metrics', path: '/metrics' });
    }
    const rule = findObject(everything, 'PrometheusRule');
    expect(at<unknown[]>(rule, 'spec', 'groups').length).toBeGreaterThan(0);
  });

  it('chart - one dashboard ConfigMap per dashboards/*.json file, labelled for the Grafana sidecar', () => {
    const files = readdirSync(join(CHART_DIR, 'dashboards')).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    const maps = everything.filter((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1');
    expect(maps.length).toBe(files.length);
    for (const map of maps) {
      expect(map.metadata.namespace).toBe('monitoring');
      expect(map.metadata.annotations?.grafana_folder).toBe('Parley');
      const [file, json] = Object.entries(at<Record<string, string>>(map, 'data'))[0]!;
      expect(files).toContain(file);
      expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(join(CHART_DIR, 'dashboards', file), 'utf8')));
    }
    expect(renderChart({ set: ['metrics.dashboards.enabled=false'] }).objects.some((o) => o.metadata.labels?.grafana_dashboard)).toBe(false);
  });
});
