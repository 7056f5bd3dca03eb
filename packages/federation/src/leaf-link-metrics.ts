import { Counter, Gauge, type Registry } from 'prom-client';

/** How often the NATS server's leaf node links are read. */
export const DEFAULT_LEAF_POLL_MS = 5_000;

interface Leafz {
  leafnodes?: number;
  leafs?: Array<{ name?: string; in_msgs?: number; out_msgs?: number; in_bytes?: number; out_bytes?: number }>;
}

/**
 * Inter-region traffic and link state as the region's NATS server sees them: its monitoring
 * endpoint's `/leafz` (the leaf node connections, the links to other regions), read every
 * `intervalMs`. Per-connection counters restart when a link reconnects; the exported counters
 * add what each poll adds, so they only grow.
 */
export function watchLeafLinks(monitorUrl: string, registry: Registry, options: { intervalMs?: number; logger?: { warn(obj: object, msg: string): void } } = {}): { stop(): void } {
  const registers = [registry];
  const links = new Gauge({ name: 'parley_federation_leaf_links', help: 'Leaf node connections (links to other regions) of the NATS server this process reads (PARLEY_NATS_MONITOR_URL); -1 when its monitoring endpoint does not answer', registers });
  const messages = new Counter({ name: 'parley_federation_link_messages_total', help: 'Messages carried by the links to other regions, by direction (in: from other regions)', labelNames: ['direction'], registers });
  const bytes = new Counter({ name: 'parley_federation_link_bytes_total', help: 'Bytes carried by the links to other regions, by direction', labelNames: ['direction'], registers });
  for (const direction of ['in', 'out']) {
    messages.inc({ direction }, 0);
    bytes.inc({ direction }, 0);
  }
  const previous = new Map<string, number>();
  const add = (counter: Counter<'direction'>, direction: string, key: string, value: number | undefined) => {
    if (value === undefined) return;
    const before = previous.get(key) ?? 0;
    counter.inc({ direction }, value >= before ? value - before : value);
    previous.set(key, value);
  };
  let lastWarning = 0;
  const poll = async () => {
    try {
      const res = await fetch(new URL('/leafz', monitorUrl), { signal: AbortSignal.timeout(2_000) });
      const leafz = (await res.json()) as Leafz;
      links.set(leafz.leafnodes ?? leafz.leafs?.length ?? 0);
      (leafz.leafs ?? []).forEach((leaf, i) => {
        const id = leaf.name ?? String(i);
        add(messages, 'in', `${id}:in_msgs`, leaf.in_msgs);
        add(messages, 'out', `${id}:out_msgs`, leaf.out_msgs);
        add(bytes, 'in', `${id}:in_bytes`, leaf.in_bytes);
        add(bytes, 'out', `${id}:out_bytes`, leaf.out_bytes);
      });
    } catch (error) {
      links.set(-1);
      if (Date.now() - lastWarning > 60_000) {
        lastWarning = Date.now();
        options.logger?.warn({ err: (error as Error).message, monitorUrl }, 'the NATS monitoring endpoint does not answer: inter-region link metrics are unknown');
      }
    }
  };
  void poll();
  const timer = setInterval(() => void poll(), options.intervalMs ?? DEFAULT_LEAF_POLL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
