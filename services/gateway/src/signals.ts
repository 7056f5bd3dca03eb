import type { Logger } from '@parley/observability';

/**
 * SIGTERM/SIGINT start a graceful shutdown (`drain`); a second signal exits at once.
 * The process exits 0 when the shutdown completes.
 */
export function installSignalHandlers(shutdown: () => Promise<void>, logger: Logger) {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
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
