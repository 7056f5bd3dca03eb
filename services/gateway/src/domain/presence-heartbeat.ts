import { setTimeout as sleep } from 'node:timers/promises';
import type { PresenceConnection, PresenceStore } from '@parley/presence-store';
import type { Logger } from '@parley/observability';
import type { GatewayMetrics } from '../metrics.ts';
import type { SessionRegistry } from './session-registry.ts';

export const DEFAULT_PRESENCE_HEARTBEAT_MS = 5_000;
/**
 * Presence entries per heartbeat round trip: preparing one chunk holds the event loop for well
 * under a millisecond (1,000 held it for several, the whole of Parley's p99 gap to a bare bridge
 * in small rooms), and Redis runs one short script per room of it.
 */
export const HEARTBEAT_CHUNK = 250;

/**
 * Refreshes every local presence entry every `intervalMs`, in chunks sent one after another and
 * spread over the first half of the interval: a pass sent at once holds the event loop (and
 * Redis) for milliseconds per thousand connections, and one batch for all of them would hold
 * tens of megabytes at once on a busy gateway, which the heap then keeps. A pass still running
 * when the next is due (Redis slow) is not doubled. Entries the store had swept (this gateway
 * stalled past the TTL) are announced as joins again.
 */
export function startPresenceHeartbeat(deps: {
  sessions: SessionRegistry;
  presence: PresenceStore;
  gatewayId: string;
  intervalMs: number;
  metrics: GatewayMetrics;
  logger: Logger;
}) {
  const { sessions, presence, gatewayId, intervalMs, metrics, logger } = deps;
  let running = false;
  let stopped = false;

  const beat = async () => {
    if (running) return;
    running = true;
    try {
      let total = 0;
      for (const s of sessions) total += s.rooms.size;
      const chunks = Math.ceil(total / HEARTBEAT_CHUNK);
      const pauseMs = chunks > 1 ? Math.floor(intervalMs / 2 / chunks) : 0;
      let chunk: PresenceConnection[] = [];
      const send = async () => {
        const entries = chunk;
        chunk = [];
        try {
          const rejoins = await presence.heartbeat(entries);
          if (rejoins.length > 0) {
            metrics.presenceRejoins.inc(rejoins.length);
            logger.warn({ rejoins: rejoins.length }, 'presence entries had expired and were swept (this gateway stalled past the TTL); announcing those joins again');
          }
          for (const r of rejoins) {
            const session = [...sessions.sessionsOf(r.ns, r.user)].find((s) => s.rooms.has(r.room));
            if (session) await session.announceRejoin(r.room, { room: r.firstForRoom === true, tenant: r.firstForTenant === true });
          }
        } catch (error) {
          metrics.presenceErrors.inc({ op: 'heartbeat' });
          logger.warn({ err: error }, 'presence heartbeat failed');
        }
        if (pauseMs > 0) await sleep(pauseMs);
      };
      for (const s of sessions) {
        if (stopped) return;
        const info = s.token.claims.info;
        for (const room of s.rooms) chunk.push({ ns: s.ns, room, user: s.user, conn: s.conn, gateway: gatewayId, ...(info && { info }) });
        if (chunk.length >= HEARTBEAT_CHUNK) await send();
      }
      if (chunk.length > 0 && !stopped) await send();
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();

  return {
    /** One pass now (tests, and a gateway that wants its entries fresh). */
    beat,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
