import { randomBytes } from 'node:crypto';
import type { Bus, BusSubscription } from '@parley/bus';
import { eventsFromMessage } from './events.ts';
import type { EventSource } from './jetstream-event-source.ts';
import { EVENT_SUBJECTS } from './jetstream-event-source.ts';

/**
 * Webhook events straight from the bus, for the single process (`npm start`, the in-memory bus,
 * no JetStream): each room event is handed to the dispatcher as it happens and retried in
 * memory. Nothing is recorded: undelivered events are lost when the process stops.
 */
export function createBusEventSource(bus: Bus): EventSource {
  const epoch = randomBytes(4).toString('hex');
  let seq = 0;
  let subscription: BusSubscription | undefined;
  return {
    async start(handle) {
      subscription = bus.subscribe(EVENT_SUBJECTS[0]!, (message) => {
        for (const event of eventsFromMessage(message.subject, message.data, `evt_${epoch}_${++seq}`, new Date())) handle(event).catch(() => {});
      });
    },
    async stop() {
      subscription?.unsubscribe();
    },
  };
}
