import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { PresenceStore } from '@parley/presence-store';
import { ParleyError, type PresenceMember } from '@parley/protocol';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FederationConfig } from './config.ts';

/** How long a query waits for another region before answering without it. */
export const DEFAULT_REGION_QUERY_TIMEOUT_MS = 1_000;
/** How often each region is pinged for the link-state gauges. */
export const DEFAULT_REGION_PROBE_MS = 5_000;

/** The subject a region answers presence queries on (one answer per region: a queue group per region). */
export const regionPresenceSubject = (region: string) => `parley.fed.${region}.presence`;

type Query =
  | { op: 'members'; ns: string; room: string }
  | { op: 'count'; ns: string; room: string }
  | { op: 'userRooms'; ns: string; user: string }
  | { op: 'ping' };
type Answer = { ok: true; result: unknown } | { ok: false; error: string };

export interface FederatedPresenceOptions {
  registry?: Registry;
  logger?: { warn(obj: object, msg: string): void };
  timeoutMs?: number;
  probeIntervalMs?: number;
}

export interface FederatedPresence {
  /** The store to use: writes stay in this region; queries merge every region that answers. */
  store: PresenceStore;
  close(): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Presence across regions. Each region keeps its own presence (its Redis); a query asks this
 * region's store and every other region's, over NATS request/reply through the inter-region link,
 * and merges the answers (a user connected in two regions is one member, its connections summed).
 * A region that does not answer within `timeoutMs` (or has no responders: the link is cut) is left
 * out of the answer and counted, so a cut never stops a region from answering its own users.
 * Every process that federates its store also answers the other regions' queries from its local
 * store, in a queue group per region (one answer per region, whichever process gives it).
 */
export function federatePresence(local: PresenceStore, nc: NatsConnection, config: FederationConfig, options: FederatedPresenceOptions = {}): FederatedPresence {
  const timeout = options.timeoutMs ?? DEFAULT_REGION_QUERY_TIMEOUT_MS;
  const others = config.regions.filter((r) => r !== config.region);
  const metrics = options.registry ? federationMetrics(options.registry) : undefined;
  let lastWarning = 0;

  const answer = async (query: Query): Promise<unknown> => {
    switch (query.op) {
      case 'members':
        return local.members(query.ns, query.room);
      case 'count':
        return local.count(query.ns, query.room);
      case 'userRooms':
        return local.userRooms(query.ns, query.user);
      case 'ping':
        return config.region;
    }
  };
  const responder: Subscription = nc.subscribe(regionPresenceSubject(config.region), {
    queue: `parley-presence-${config.region}`,
    callback: (error, msg) => {
      if (error) return;
      let query: Query;
      try {
        query = parseQuery(msg.data);
      } catch (cause) {
        msg.respond(encoder.encode(JSON.stringify({ ok: false, error: (cause as Error).message } satisfies Answer)));
        return;
      }
      answer(query).then(
        (result) => msg.respond(encoder.encode(JSON.stringify({ ok: true, result } satisfies Answer))),
        (cause: unknown) => msg.respond(encoder.encode(JSON.stringify({ ok: false, error: cause instanceof ParleyError ? cause.code : 'error' } satisfies Answer))),
      );
    },
  });

  const ask = async (region: string, query: Query): Promise<unknown> => {
    const started = performance.now();
    try {
      const reply = await nc.request(regionPresenceSubject(region), encoder.encode(JSON.stringify(query)), { timeout });
      const parsed = JSON.parse(decoder.decode(reply.data)) as Answer;
      if (!parsed.ok) throw new Error(`region ${region} answered ${parsed.error}`);
      metrics?.queries.inc({ region, outcome: 'ok' });
      metrics?.querySeconds.observe({ region }, (performance.now() - started) / 1000);
      return parsed.result;
    } catch (error) {
      metrics?.queries.inc({ region, outcome: 'unanswered' });
      if (Date.now() - lastWarning > 10_000) {
        lastWarning = Date.now();
        options.logger?.warn({ region, err: (error as Error).message }, 'a region did not answer a presence query: answering without it');
      }
      return undefined;
    }
  };
  /** This region's answer (its failure is the caller's) and those of the other regions that answered. */
  const everywhere = async <T>(query: Query, mine: Promise<T>): Promise<T[]> => {
    const [own, ...remote] = await Promise.all([mine, ...others.map((r) => ask(r, query))]);
    return [own, ...(remote.filter((r) => r !== undefined) as T[])];
  };

  const probe = async () => {
    await Promise.all(
      others.map(async (region) => {
        const started = performance.now();
        try {
          await nc.request(regionPresenceSubject(region), encoder.encode(JSON.stringify({ op: 'ping' } satisfies Query)), { timeout });
          metrics?.regionUp.set({ region }, 1);
          metrics?.regionRtt.set({ region }, (performance.now() - started) / 1000);
        } catch {
          metrics?.regionUp.set({ region }, 0);
        }
      }),
    );
  };
  const prober = metrics && others.length > 0 ? setInterval(() => void probe(), options.probeIntervalMs ?? DEFAULT_REGION_PROBE_MS) : undefined;
  prober?.unref();
  if (prober) void probe();

  const store: PresenceStore = {
    ...bindAll(local),
    async members(ns, room) {
      return mergeMembers(await everywhere({ op: 'members', ns, room }, local.members(ns, room)));
    },
    async count(ns, room) {
      const counts = await everywhere({ op: 'count', ns, room }, local.count(ns, room));
      return counts.reduce((sum, c) => ({ users: sum.users + c.users, connections: sum.connections + c.connections }), { users: 0, connections: 0 });
    },
    async userRooms(ns, user) {
      return [...new Set((await everywhere({ op: 'userRooms', ns, user }, local.userRooms(ns, user))).flat())];
    },
  };
  return {
    store,
    close() {
      if (prober) clearInterval(prober);
      responder.unsubscribe();
    },
  };
}

/** Every method of the store, bound to it (the federated store replaces the queries only). */
function bindAll(store: PresenceStore): PresenceStore {
  return {
    add: (c) => store.add(c),
    remove: (k) => store.remove(k),
    members: (ns, room) => store.members(ns, room),
    count: (ns, room) => store.count(ns, room),
    userRooms: (ns, user) => store.userRooms(ns, user),
    heartbeat: (cs) => store.heartbeat(cs),
    sweep: () => store.sweep(),
    ...(store.stats && { stats: () => store.stats!() }),
    ...(store.ping && { ping: () => store.ping!() }),
    close: () => store.close(),
  };
}

export function mergeMembers(lists: PresenceMember[][]): PresenceMember[] {
  const byUser = new Map<string, PresenceMember>();
  for (const list of lists) {
    for (const member of list) {
      const seen = byUser.get(member.user);
      if (seen) seen.connections += member.connections;
      else byUser.set(member.user, { ...member });
    }
  }
  return [...byUser.values()];
}

const NS = /^[a-z0-9-]{1,63}$/;

function parseQuery(data: Uint8Array): Query {
  const value = JSON.parse(decoder.decode(data)) as Record<string, unknown>;
  if (value.op === 'ping') return { op: 'ping' };
  if (typeof value.ns !== 'string' || !NS.test(value.ns)) throw new Error('bad namespace');
  if ((value.op === 'members' || value.op === 'count') && typeof value.room === 'string' && value.room !== '') return { op: value.op, ns: value.ns, room: value.room };
  if (value.op === 'userRooms' && typeof value.user === 'string' && value.user !== '') return { op: 'userRooms', ns: value.ns, user: value.user };
  throw new Error('bad query');
}

const byRegistry = new WeakMap<Registry, ReturnType<typeof buildMetrics>>();

function federationMetrics(registry: Registry) {
  let metrics = byRegistry.get(registry);
  if (!metrics) byRegistry.set(registry, (metrics = buildMetrics(registry)));
  return metrics;
}

function buildMetrics(registry: Registry) {
  const registers = [registry];
  return {
    queries: new Counter({ name: 'parley_federation_presence_queries_total', help: 'Presence queries sent to another region, by outcome (ok; unanswered: timed out or no responders, the link is cut or the region is down)', labelNames: ['region', 'outcome'], registers }),
    querySeconds: new Histogram({ name: 'parley_federation_presence_query_seconds', help: 'Round trip of an answered presence query to another region', labelNames: ['region'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers }),
    regionUp: new Gauge({ name: 'parley_federation_region_up', help: '1 when the region answered the last ping over the inter-region link (every 5 s), 0 when not', labelNames: ['region'], registers }),
    regionRtt: new Gauge({ name: 'parley_federation_region_rtt_seconds', help: 'Round trip of the last answered ping to the region (NATS request over the inter-region link)', labelNames: ['region'], registers }),
  };
}
