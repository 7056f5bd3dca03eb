import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DispatcherObserver, MessageRecorderOptions } from '@parley/webhooks';
import type { Logger } from '@parley/observability';

/** The dispatcher's metrics and log lines (endpoint ids, never URLs' secrets or bodies). */
export function createDispatcherObserver(registry: Registry, logger: Logger): DispatcherObserver {
  const attempts = new Counter({ name: 'parley_webhook_attempts_total', help: 'Delivery attempts, by result (ok, failed)', labelNames: ['result'], registers: [registry] });
  const seconds = new Histogram({ name: 'parley_webhook_attempt_seconds', help: 'Duration of a delivery attempt', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] });
  const givenUp = new Counter({ name: 'parley_webhook_given_up_total', help: 'Events given up after the retry period (their endpoint was disabled)', registers: [registry] });
  for (const result of ['ok', 'failed']) attempts.inc({ result }, 0);
  const backlog = new Gauge({ name: 'parley_webhook_backlog', help: 'Events this dispatcher holds and has not finished delivering', registers: [registry] });
  return {
    attempted(endpoint, event, result, ms) {
      attempts.inc({ result: result.ok ? 'ok' : 'failed' });
      seconds.observe(ms / 1000);
      if (!result.ok) logger.warn({ ns: endpoint.ns, endpoint: endpoint.id, event: event.id, error: result.error }, 'webhook delivery failed; will retry');
    },
    gaveUp(endpoint, event, lastError) {
      givenUp.inc();
      logger.error({ ns: endpoint.ns, endpoint: endpoint.id, event: event.id, error: lastError }, 'webhook event given up after the retry period; endpoint disabled');
    },
    backlog: (events) => backlog.set(events),
  };
}

/** The message recorder's metrics and log lines (`message.published` for the tenants that asked). */
export function createRecorderObserver(registry: Registry, logger: Logger): Pick<MessageRecorderOptions, 'recorded' | 'lost' | 'following'> {
  const recorded = new Counter({ name: 'parley_webhook_messages_recorded_total', help: 'Room messages recorded as message.published events', registers: [registry] });
  const lost = new Counter({ name: 'parley_webhook_messages_unrecorded_total', help: 'Room messages that could not be recorded as message.published events (JetStream refused them)', registers: [registry] });
  const tenants = new Gauge({ name: 'parley_webhook_message_tenants', help: 'Tenants whose room messages are recorded (an enabled endpoint asked for message.published)', registers: [registry] });
  return {
    recorded: () => recorded.inc(),
    lost(ns, error) {
      lost.inc();
      logger.error({ ns, err: (error as Error).message }, 'a room message could not be recorded as message.published; no endpoint will receive it');
    },
    following: (count) => tenants.set(count),
  };
}
