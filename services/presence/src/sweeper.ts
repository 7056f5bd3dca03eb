import type { Registry } from 'prom-client';
import { HEADER_ORIGIN, HEADER_TIMESTAMP, type Bus } from '@parley/bus';
import type { Logger } from '@parley/observability';
import type { PresenceLeave, PresenceStore } from '@parley/presence-store';
import { encodeRoomEvents, encodeServerFrame, leaveEvents, ParleyError, subjects } from '@parley/protocol';
import { createPresenceMetrics } from './metrics.ts';

/** @default 2000: time between the end of one sweep pass and the start of the next. */
export const DEFAULT_SWEEP_INTERVAL_MS = 2000;
/** @default 10000: swept leaves kept for a retry while the bus refuses them; older ones are dropped (and logged). */
export const DEFAULT_MAX_PENDING_LEAVES = 10_000;

export interface SweeperDeps {
  store: PresenceStore;
  bus: Bus;
  logger: Logger;
  registry: Registry;
}

export interface SweeperOptions {
  /** @default 2000 */
  intervalMs?: number;
  /** `Parley-Origin` header of the published events. @default 'presence' */
  originId?: string;
  /** @default 10000 */
  maxPendingLeaves?: number;
}

export interface Sweeper {
  /** Starts periodic passes (idempotent). */
  start(): void;
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
  /** One pass now: sweep, then publish the leaves; resolves with the leaves published. */
  runOnce(): Promise<PresenceLeave[]>;
}

/**
 * Removes presence entries whose gateway stopped refreshing them (it died) and announces the
 * resulting leaves: a `presence.leave` frame on `subjects.presence(ns, room)` per leave. The
 * store's sweep is atomic per room, so with several sweepers (replicas) each leave is returned
 * to exactly one of them and announced once. A leave the bus refuses is retried on the next
 * passes (bounded); the bus itself is at most once.
 * Convergence: a dead gateway's users leave within ttl + intervalMs + one pass.
 */
export function createSweeper(deps: SweeperDeps, options: SweeperOptions = {}): Sweeper {
  const { store, bus, logger } = deps;
  const metrics = createPresenceMetrics(deps.registry, store);
  const intervalMs = options.intervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  const origin = options.originId ?? 'presence';
  const maxPending = options.maxPendingLeaves ?? DEFAULT_MAX_PENDING_LEAVES;
  const encoder = new TextEncoder();
  let pending: PresenceLeave[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<PresenceLeave[]> | undefined;
  let started = false;

  const publish = async (leaves: PresenceLeave[]): Promise<PresenceLeave[]> => {
    const published: PresenceLeave[] = [];
    const failed: PresenceLeave[] = [];
    await Promise.all(
      leaves.map(async (leave) => {
        const frame = encodeServerFrame({ type: 'presence.leave', room: leave.room, user: leave.user });
        const headers = { [HEADER_ORIGIN]: origin, [HEADER_TIMESTAMP]: String(Date.now()) };
        try {
          // Webhook events first: if the second publish fails, the retry repeats a webhook event
          // (delivered at least once anyway), never a member's presence.leave.
          await bus.publish(subjects.roomEvents(leave.ns, leave.room), encodeRoomEvents(leaveEvents(leave.room, leave.user, { room: leave.lastForRoom === true, tenant: leave.lastForTenant === true })), headers);
          await bus.publish(subjects.presence(leave.ns, leave.room), encoder.encode(frame), headers);
          published.push(leave);
        } catch {
          failed.push(leave);
        }
      }),
    );
    metrics.leavesPublished.inc(published.length);
    if (failed.length > 0) {
      pending = [...pending, ...failed];
      if (pending.length > maxPending) {
        logger.error({ dropped: pending.length - maxPending }, 'the bus refused swept leaves for too long; dropping the oldest');
        pending = pending.slice(pending.length - maxPending);
      }
      logger.warn({ count: failed.length }, 'bus refused presence.leave events; retrying on the next pass');
    }
    metrics.leavesPending.set(pending.length);
    return published;
  };

  const pass = async (): Promise<PresenceLeave[]> => {
    const end = metrics.sweepDuration.startTimer();
    const retry = pending;
    pending = [];
    let leaves: PresenceLeave[] = [];
    try {
      const swept = await store.sweep();
      leaves = swept;
      metrics.sweeps.inc({ result: 'ok' });
      metrics.sweptConnections.inc(swept.sweptConnections ?? 0);
      metrics.redisUp.set(1);
    } catch (error) {
      metrics.sweeps.inc({ result: 'error' });
      if (error instanceof ParleyError && error.code === 'presence_unavailable') {
        metrics.redisUp.set(0);
        logger.warn({ err: error }, 'sweep failed: presence store unavailable');
      } else logger.error({ err: error }, 'sweep failed');
    }
    const published = await publish([...retry, ...leaves]);
    end();
    if (leaves.length > 0) logger.debug({ leaves: leaves.length }, 'swept presence');
    return published;
  };

  /** Never two passes of one sweeper at once. */
  const exclusive = async (): Promise<PresenceLeave[]> => {
    while (running) await running.catch(() => {});
    const current = pass();
    running = current;
    try {
      return await current;
    } finally {
      running = undefined;
    }
  };

  const schedule = () => {
    if (!started) return;
    timer = setTimeout(() => void exclusive().finally(schedule), intervalMs);
  };

  return {
    start() {
      if (started) return;
      started = true;
      schedule();
    },
    async stop() {
      started = false;
      clearTimeout(timer);
      await running?.catch(() => {});
    },
    runOnce: exclusive,
  };
}
