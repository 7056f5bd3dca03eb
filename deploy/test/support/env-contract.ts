import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART_DIR } from './tools.ts';

export type Component = 'gateway' | 'auth' | 'presence' | 'webhooks';
export const COMPONENTS: readonly Component[] = ['gateway', 'auth', 'presence', 'webhooks'];

export interface ServiceContract {
  /** The production command, as the image's CMD and the Deployment's args run it. */
  command: string[];
  /** Default listen port. */
  port: number;
  /** Every environment variable the service reads. */
  env: Record<string, { description: string; optional?: boolean }>;
}

/** deploy/helm/parley/env-contract.json: what each service reads and how it starts. */
export function loadEnvContract(): Record<Component, ServiceContract> {
  const raw = JSON.parse(readFileSync(join(CHART_DIR, 'env-contract.json'), 'utf8')) as { services: Record<Component, ServiceContract> };
  return raw.services;
}
