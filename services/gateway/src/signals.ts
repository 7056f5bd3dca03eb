import type { Logger } from '@parley/observability';

/**
 * SIGTERM/SIGINT start a graceful shutdown (`drain`); a second signal exits at once. A signal that
 * arrives within a second of the first is the same request delivered twice (a terminal's Ctrl-C
 * reaches both `npm` and this process, and `npm` forwards it once more) and is ignored.
 * The process exits 0 when the shutdown completes.
 */
const REPEATED_SIGNAL_MS = 1000;

export function installSignalHandlers(shutdown: () => Promise<void>, logger: Logger) {
  let stoppingSince: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stoppingSince !== undefined) {
      if (Date.now() - stoppingSince < REPEATED_SIGNAL_MS) return;
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stoppingSince = Date.now();
    logger.info({ signal }, 'shutting down');
    shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
