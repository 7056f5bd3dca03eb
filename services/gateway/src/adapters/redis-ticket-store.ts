import type { Cluster, Redis } from 'ioredis';
import { ParleyError } from '@parley/protocol';
import type { TicketStore } from '../domain/connection-tickets.ts';

/** @default 'parley:ticket:' */
export const TICKET_KEY_PREFIX = 'parley:ticket:';
/** @default 500: how long a ticket operation waits for a Redis connection in progress. */
const READY_WAIT_MS = 500;

/**
 * Tickets in Redis (the presence store's Redis, shared by every gateway): `SET … PX`, then
 * `GETDEL`, so a ticket is taken once cluster-wide. Without a connection it fails at once
 * (`unavailable`) after a short wait, never queueing.
 */
export function createRedisTicketStore(redis: Redis | Cluster, prefix = TICKET_KEY_PREFIX): TicketStore {
  const ready = async () => {
    if (redis.status === 'ready') return;
    const connected = await new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        redis.off('ready', onReady);
        resolve(ok);
      };
      const onReady = () => done(true);
      const timer = setTimeout(done, READY_WAIT_MS, false);
      redis.once('ready', onReady);
    });
    if (!connected) throw new ParleyError('unavailable', 'the ticket store (Redis) is not connected; retry shortly');
  };
  return {
    async put(ticket, token, ttlMs) {
      await ready();
      await redis.set(prefix + ticket, token, 'PX', ttlMs);
    },
    async take(ticket) {
      await ready();
      return (await redis.getdel(prefix + ticket)) ?? undefined;
    },
  };
}
