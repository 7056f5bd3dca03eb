import { beforeAll, describe, expect, it } from 'vitest';
import { PREPARE_TIMEOUT_MS, prepareTools } from './support/tools.ts';
import { templateChart } from './support/chart.ts';

/**
 * Bad values fail `helm template` (and so `helm install`) with a message that names the value.
 * Each case: the values, then fragments the error must contain.
 */
const SCHEMA_CASES: Array<[string, Record<string, unknown>, string[]]> = [
  ['negative replicas', { gateway: { replicaCount: -1 } }, ["'/gateway/replicaCount'", 'minimum: got -1, want 0']],
  ['a port that is not a number', { auth: { port: '8081' } }, ["'/auth/port'", 'got string, want integer']],
  ['a port out of range', { presence: { port: 70000 } }, ["'/presence/port'", 'maximum']],
  ['an unknown top-level key', { replicas: 3 }, ["additional properties 'replicas' not allowed"]],
  ['an unknown nested key (typo)', { gateway: { drainSecond: 5 } }, ["'/gateway'", "additional properties 'drainSecond' not allowed"]],
  ['a missing NATS URL without an existing Secret', { nats: { url: '' } }, ["'/nats/url'", 'minLength']],
  ['a Redis URL with the wrong scheme', { redis: { url: 'http://redis:6379' } }, ["'/redis/url'", 'does not match pattern']],
  ['an unknown log level', { logLevel: 'verbose' }, ["'/logLevel'", "value must be one of 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'"]],
  ['an unknown pull policy', { image: { pullPolicy: 'Sometimes' } }, ["'/image/pullPolicy'", 'value must be one of']],
  ['an ingress route to an unknown component', { ingress: { routes: [{ path: '/x', pathType: 'Prefix', component: 'chat' }] } }, ["'/ingress/routes/0/component'", "value must be one of 'gateway', 'auth', 'presence'"]],
  ['a CPU target over 100 %', { gateway: { autoscaling: { targetCPUUtilizationPercentage: 150 } } }, ["'/gateway/autoscaling/targetCPUUtilizationPercentage'", 'maximum: got 150, want 100']],
  ['a short admin token', { auth: { adminToken: { value: 'secret' } } }, ["'/auth/adminToken/value'", 'does not match pattern']],
  ['a key id a token header cannot carry', { auth: { signingKeys: { activeKeyId: 'key one' } } }, ["'/auth/signingKeys/activeKeyId'"]],
  ['a signing key file with the wrong name', { auth: { signingKeys: { files: { 'key.pem': '{}' } } } }, ["'key.pem' does not match pattern", 'jwk']],
  ['a negative drain', { gateway: { drainSeconds: -5 } }, ["'/gateway/drainSeconds'", 'minimum']],
  ['a privileged container', { securityContext: { privileged: true } }, ["'/securityContext/privileged'", 'value must be false']],
  ['a memory request that is not a quantity', { auth: { resources: { requests: { memory: 'lots' } } } }, ["'/auth/resources/requests/memory'"]],
];

/** Values the schema accepts but the templates refuse, with the message the operator sees. */
const TEMPLATE_CASES: Array<[string, Record<string, unknown>, string[]]> = [
  ['a grace period shorter than preStop + drain', { gateway: { terminationGracePeriodSeconds: 12 } }, ['gateway.terminationGracePeriodSeconds (12) must be greater than gateway.preStopSleepSeconds + gateway.drainSeconds (15)']],
  ['both minAvailable and maxUnavailable', { presence: { pdb: { minAvailable: 1, maxUnavailable: 1 } } }, ['presence.pdb: set either minAvailable or maxUnavailable, not both']],
  ['more min than max replicas', { gateway: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 3 } } }, ['gateway.autoscaling.minReplicas (5) must not exceed maxReplicas (3)']],
  ['an HTTPRoute without a Gateway', { httpRoute: { enabled: true } }, ['httpRoute.parentRefs must name at least one Gateway']],
  ['an active key id without its key file', { auth: { signingKeys: { activeKeyId: 'k2', files: { 'k1.private.jwk.json': '{"kty":"EC"}' } } } }, ['auth.signingKeys.activeKeyId is "k2" but auth.signingKeys.files has no k2.private.jwk.json']],
];

describe('values.schema.json', () => {
  beforeAll(prepareTools, PREPARE_TIMEOUT_MS);

  it.each(SCHEMA_CASES)('values schema - rejects %s with a message naming the value', (_name, values, fragments) => {
    const result = templateChart({ values });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    for (const fragment of fragments) expect(result.stderr).toContain(fragment);
  });

  it.each(TEMPLATE_CASES)('values checks - rejects %s with a clear message', (_name, values, fragments) => {
    const result = templateChart({ values });
    expect(result.status).not.toBe(0);
    for (const fragment of fragments) expect(result.stderr).toContain(fragment);
  });

  it('values schema - accepts an empty NATS URL when the URL comes from an existing Secret', () => {
    const result = templateChart({ values: { nats: { url: '', existingSecret: 'nats-credentials' }, redis: { url: '', existingSecret: 'redis-credentials' } } });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
