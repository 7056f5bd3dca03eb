import type { Bus } from '@parley/bus';
import type { NatsBus } from '@parley/bus/nats';
import type { HistoryStore } from './history-store.ts';
import { createJetStreamHistoryStore } from './jetstream-history-store.ts';
import { createMemoryHistoryStore } from './memory-history-store.ts';

export interface HistoryStoreConfig {
  /** The bus; history is in JetStream when it is NATS, in memory (one process) otherwise. */
  bus: Bus;
  nats: NatsBus | undefined;
  /** Replicas of each tenant stream (JetStream). */
  replicas?: number | undefined;
  logger?: { warn(obj: object, msg: string): void } | undefined;
  /** Federation: this region and the one holding history (`PARLEY_REGION`, `PARLEY_HISTORY_REGION`). */
  federation?: { region: string; historyRegion: string } | undefined;
}

/** The history store that goes with the bus: JetStream over NATS (probed once, with a warning when absent), memory otherwise. */
export async function openHistoryStore(config: HistoryStoreConfig): Promise<HistoryStore> {
  if (!config.nats) return createMemoryHistoryStore({ bus: config.bus });
  const jetstream = createJetStreamHistoryStore(config.nats.raw, {
    ...(config.replicas !== undefined && { replicas: config.replicas }),
    ...(config.logger && { logger: config.logger }),
    ...(config.federation && { federation: config.federation }),
  });
  const check = await jetstream.probe();
  if (!check.ok) config.logger?.warn({ reason: check.reason }, 'JetStream is not available: tenants with history will fail and make this gateway unready');
  return jetstream;
}
