import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREPARE_TIMEOUT_MS, prepareTools } from './support/tools.ts';
import { renderChart, type K8sObject } from './support/chart.ts';
import { processFromChart } from './support/chart-env.ts';

const mountRoot = mkdtempSync(join(tmpdir(), 'parley-chart-env-'));
afterAll(() => rmSync(mountRoot, { recursive: true, force: true }));

const base64 = (text: string) => Buffer.from(text).toString('base64');

/** A hand-made Deployment exercising every kind of env source and volume. */
const objects: K8sObject[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'r-auth', namespace: 'ns1', labels: { 'app.kubernetes.io/component': 'auth' } }, spec: { ports: [{ port: 8081 }] } },
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'ns1' }, data: { JWKS: 'http://r-auth.ns1.svc:8081/.well-known/jwks.json', SHORT: 'http://r-auth:8081', FQDN: 'http://r-auth.ns1.svc.cluster.local:8081/x', OTHER: 'http://r-authx:8081', HOST: '0.0.0.0' } },
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'keys', namespace: 'ns1' }, data: { 'k1.private.jwk.json': base64('{"kid":"k1"}'), token: base64('s3cret') } },
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'r-gateway', namespace: 'ns1', labels: { 'app.kubernetes.io/component': 'gateway' } },
    spec: {
      template: {
        spec: {
          terminationGracePeriodSeconds: 25,
          containers: [
            {
              name: 'gateway',
              args: ['node', 'services/gateway/src/main.ts'],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' } },
              lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } },
              env: [
                { name: 'PORT', value: '8080' },
                { name: 'HOST', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'HOST' } } },
                { name: 'JWKS', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'JWKS' } } },
                { name: 'SHORT', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'SHORT' } } },
                { name: 'FQDN', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'FQDN' } } },
                { name: 'OTHER', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'OTHER' } } },
                { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'keys', key: 'token' } } },
                { name: 'EXTERNAL', valueFrom: { secretKeyRef: { name: 'external', key: 'url' } } },
                { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'KEYS_DIR', value: '/etc/keys' },
                { name: 'DATA', value: '/tmp/data' },
              ],
              volumeMounts: [
                { name: 'tmp', mountPath: '/tmp' },
                { name: 'keys', mountPath: '/etc/keys' },
              ],
            },
          ],
          volumes: [
            { name: 'tmp', emptyDir: {} },
            { name: 'keys', secret: { secretName: 'keys', items: [{ key: 'k1.private.jwk.json', path: 'k1.private.jwk.json' }] } },
          ],
        },
      },
    },
  },
];

describe('chart env extraction', () => {
  beforeAll(prepareTools, PREPARE_TIMEOUT_MS);

  it('chart env - resolves ConfigMaps, Secrets, the downward API and volumes, and points Services at loopback', () => {
    const p = processFromChart(objects, 'gateway', { port: 4000, servicePorts: { auth: 5000 }, mountRoot, podName: 'gw-a', secrets: { external: { url: 'nats://127.0.0.1:4222' } } });
    expect(p.command).toEqual(['node', 'services/gateway/src/main.ts']);
    expect(p.env).toMatchObject({
      PORT: '4000',
      HOST: '127.0.0.1',
      JWKS: 'http://127.0.0.1:5000/.well-known/jwks.json',
      SHORT: 'http://127.0.0.1:5000',
      FQDN: 'http://127.0.0.1:5000/x',
      OTHER: 'http://r-authx:8081',
      TOKEN: 's3cret',
      EXTERNAL: 'nats://127.0.0.1:4222',
      POD: 'gw-a',
      NS: 'ns1',
      KEYS_DIR: join(mountRoot, 'gw-a', 'etc/keys'),
      DATA: join(mountRoot, 'gw-a', 'tmp/data'),
    });
    expect(readFileSync(join(p.env.KEYS_DIR!, 'k1.private.jwk.json'), 'utf8')).toBe('{"kid":"k1"}');
    expect(existsSync(join(mountRoot, 'gw-a', 'tmp'))).toBe(true);
    expect(p.probes.readiness).toBe('/readyz');
    expect([p.terminationGracePeriodSeconds, p.preStopSleepSeconds]).toEqual([25, 5]);
  });

  it('chart env - a Secret that is neither rendered nor given is an error naming it', () => {
    expect(() => processFromChart(objects, 'gateway', { port: 1, servicePorts: {}, mountRoot })).toThrow(/EXTERNAL: Secret external key url/);
    expect(() => processFromChart(objects, 'auth', { port: 1, servicePorts: {}, mountRoot })).toThrow(/no Deployment for component auth/);
  });

  it('chart env - the rendered chart gives each service a loopback-ready environment', () => {
    const rendered = renderChart({ values: { nats: { url: 'nats://127.0.0.1:4222' } } }).objects;
    const gateway = processFromChart(rendered, 'gateway', { port: 9000, servicePorts: { auth: 9001 }, mountRoot, podName: 'parley-gateway-x' });
    expect(gateway.env).toMatchObject({ PARLEY_JWKS_URL: 'http://127.0.0.1:9001/.well-known/jwks.json', PARLEY_GATEWAY_ID: 'parley-gateway-x', NATS_URL: 'nats://127.0.0.1:4222' });
    const auth = processFromChart(rendered, 'auth', { port: 9001, servicePorts: { auth: 9001 }, mountRoot });
    expect(readFileSync(join(auth.env.PARLEY_SIGNING_KEYS_DIR!, 'default.private.jwk.json'), 'utf8')).toContain('"kid":"default"');
    expect(auth.env.PARLEY_DATA_DIR!.startsWith(mountRoot)).toBe(true);
  });
});
