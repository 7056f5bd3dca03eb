import type { Logger } from '@parley/observability';
import type { GatewayMetrics } from '../metrics.ts';
import type { SessionRegistry } from './session-registry.ts';

/** How often the gateway checks that its event loop kept running. */
const STALL_CHECK_MS = 250;
/** A gap this much longer than the check interval counts as a stall. */
const STALL_MIN_MS = 1_000;

/**
 * A stalled process (a long GC pause, SIGSTOP, a stopped VM) receives at once what clients sent
 * meanwhile. The check runs on a timer and, because a process stopped in its poll reads sockets
 * before its timers when it resumes, also before any frame is refused as over the rate (`check`):
 * the credit is granted before that backlog is rate limited.
 */
export function startStallDetector(deps: { sessions: SessionRegistry; metrics: GatewayMetrics; logger: Logger }) {
  const { sessions, metrics, logger } = deps;
  let lastTick = performance.now();
  const check = () => {
    const now = performance.now();
    const stalledMs = now - lastTick - STALL_CHECK_MS;
    lastTick = now;
    if (stalledMs < STALL_MIN_MS) return;
    metrics.stalls.inc();
    logger.warn({ stalledMs: Math.round(stalledMs), sessions: sessions.size }, "this gateway was stalled; clients' messages sent meanwhile are not rate limited as a burst");
    for (const s of sessions) s.creditStall(stalledMs);
  };
  const timer = setInterval(check, STALL_CHECK_MS);
  timer.unref();
  return {
    check,
    stop() {
      clearInterval(timer);
    },
  };
}
