import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { HistoryRetention, HistoryTenant } from './history-store.ts';

/** JetStream's default duplicate window; shortened to `max_age` when that is shorter. */
export const DUPLICATE_WINDOW_SECONDS = 120;
const VERSION_KEY = 'parley_version';

/** One stream per tenant. Namespaces are `[a-z0-9-]`, which stream names accept as they are. */
export function streamName(ns: string): string {
  return `parley-history-${ns}`;
}

/** The stream captures every room subject of the tenant: `chat.<ns>.<b64url(room)>`. */
export function streamSubject(ns: string): string {
  return `chat.${ns}.*`;
}

export function streamConfig(tenant: HistoryTenant, replicas: number): Partial<StreamConfig> & { name: string } {
  const { retention } = tenant;
  return {
    name: streamName(tenant.ns),
    subjects: [streamSubject(tenant.ns)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(retention.maxAgeSeconds * 1000),
    max_msgs_per_subject: retention.maxMessagesPerRoom,
    max_bytes: retention.maxBytes,
    max_msgs: -1,
    duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_SECONDS, retention.maxAgeSeconds) * 1000),
    num_replicas: replicas,
    allow_direct: true,
    metadata: { [VERSION_KEY]: String(tenant.version) },
  };
}

/**
 * A tenant's stream in a region that does not hold history (federation): a mirror of the stream
 * in the history region's JetStream domain, reached through the inter-region link. It keeps the
 * origin's sequences (so a client resumes with the same `since` in any region) and the same
 * retention; it takes no subjects of its own, so nothing is stored twice.
 */
export function mirrorConfig(tenant: HistoryTenant, replicas: number, historyDomain: string): Partial<StreamConfig> & { name: string } {
  const { subjects: _subjects, duplicate_window: _window, allow_direct: _direct, ...limits } = streamConfig(tenant, replicas);
  return { ...limits, mirror: { name: streamName(tenant.ns), external: { api: `$JS.${historyDomain}.API`, deliver: '' } } };
}

export function retentionOf(info: StreamInfo): HistoryRetention {
  return {
    maxAgeSeconds: Math.round(info.config.max_age / 1e9),
    maxMessagesPerRoom: info.config.max_msgs_per_subject,
    maxBytes: info.config.max_bytes,
  };
}

const sameRetention = (a: HistoryRetention, b: HistoryRetention) =>
  a.maxAgeSeconds === b.maxAgeSeconds && a.maxMessagesPerRoom === b.maxMessagesPerRoom && a.maxBytes === b.maxBytes;

export const isStreamNotFound = (error: unknown) => error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;

interface Applied {
  version: number;
  retention: HistoryRetention;
  done: Promise<void>;
}

/**
 * Creates tenant streams lazily and keeps their retention in step with the newest token seen.
 * The version that set a stream's limits is kept in the stream's metadata, so gateways holding
 * older tokens never undo a newer setting. Answers from a cache when nothing changed.
 */
export function createStreamEnsurer(
  jsm: () => Promise<JetStreamManager>,
  replicas: number,
  configOf: (tenant: HistoryTenant, replicas: number) => Partial<StreamConfig> & { name: string } = streamConfig,
) {
  const applied = new Map<string, Applied>();

  const apply = async (tenant: HistoryTenant) => {
    const manager = await jsm();
    const config = configOf(tenant, replicas);
    let info: StreamInfo;
    try {
      info = await manager.streams.info(config.name);
    } catch (error) {
      if (!isStreamNotFound(error)) throw error;
      try {
        await manager.streams.add(config);
        return;
      } catch (addError) {
        // Another gateway created it first: fall through and compare with what it set.
        info = await manager.streams.info(config.name).catch(() => {
          throw addError;
        });
      }
    }
    const storedVersion = Number(info.config.metadata?.[VERSION_KEY] ?? 0);
    if (sameRetention(retentionOf(info), tenant.retention) || tenant.version < storedVersion) return;
    await manager.streams.update(config.name, config);
  };

  return {
    ensure(tenant: HistoryTenant): Promise<void> {
      const current = applied.get(tenant.ns);
      if (current && (sameRetention(current.retention, tenant.retention) || tenant.version < current.version)) return current.done;
      const entry: Applied = { version: tenant.version, retention: { ...tenant.retention }, done: apply(tenant) };
      applied.set(tenant.ns, entry);
      entry.done.catch(() => {
        if (applied.get(tenant.ns) === entry) applied.delete(tenant.ns);
      });
      return entry.done;
    },
    /** Forgets what was applied for a tenant (its stream turned out to be missing). */
    forget(ns: string) {
      applied.delete(ns);
    },
  };
}
