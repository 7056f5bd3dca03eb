import type { Logger } from 'pino';
import type { Bus } from './bus.ts';
import { createMemoryBus } from './memory-bus.ts';
import { createNatsBus, type NatsBus } from './nats-bus.ts';

export interface BusConfig {
  /** One NATS URL or several, comma-separated; unset: the in-memory bus (one process only). */
  natsUrl?: string | undefined;
  /** The connection's name on the NATS server (its monitoring shows it). */
  name: string;
  logger?: Logger | undefined;
}

/** The bus the configuration asks for; `nats` is set when it is NATS (for JetStream and the control log). */
export async function openBus(config: BusConfig): Promise<{ bus: Bus; nats: NatsBus | undefined }> {
  if (!config.natsUrl) return { bus: createMemoryBus(config.logger ? { logger: config.logger } : {}), nats: undefined };
  const nats = await createNatsBus({ servers: config.natsUrl.split(','), name: config.name, ...(config.logger && { logger: config.logger }) });
  return { bus: nats, nats };
}
