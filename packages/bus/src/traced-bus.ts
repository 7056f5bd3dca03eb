import {
  ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace,
  type Attributes, type TextMapGetter, type TextMapPropagator, type TextMapSetter, type Tracer,
} from '@opentelemetry/api';
import { HEADER_MSG_ID, type Bus, type BusHandler, type BusHeaders, type BusMessage, type BusSubscription, type PublishedMessageInfo } from './bus.ts';

export interface TracedBusOptions {
  /** The tracer; undefined (tracing off) returns the bus itself, undecorated. */
  tracer: Tracer | undefined;
  /**
   * Carries the context in the headers. @default the global OpenTelemetry propagator, which
   * `initTracing` sets to W3C trace context (`traceparent`, `HEADER_TRACEPARENT`).
   */
  propagator?: TextMapPropagator;
}

const setter: TextMapSetter<BusHeaders> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};
const getter: TextMapGetter<BusHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/**
 * `kind.ns` of a subject (`chat.acme.<room>` → `chat.acme`): the span name and destination
 * attribute. Room and user names (the third token on) are user input and never reach a trace.
 */
export function subjectPrefix(subject: string): string {
  const first = subject.indexOf('.');
  if (first < 0) return subject;
  const second = subject.indexOf('.', first + 1);
  return second < 0 ? subject : subject.slice(0, second);
}

/**
 * Decorates a bus with OpenTelemetry spans, following the messaging semantic conventions.
 *
 * - `publish` runs in a PRODUCER span `publish <kind.ns>` (ended when the bus accepted the
 *   message or refused it) and injects its context into a copy of the headers (`traceparent`),
 *   with the message id of `about` as `Parley-Msg-Id` when the headers have none.
 * - each delivery to a `subscribe` handler runs in a CONSUMER span `process <kind.ns>`, a child of
 *   the context extracted from the headers (a new trace when there is none), and active while the
 *   handler runs, so logs and spans made inside it join the publisher's trace on another node.
 *
 * Attributes: `messaging.system` = `nats`, `messaging.destination.name` = `<kind>.<ns>`,
 * `messaging.operation.type`, `messaging.message.id` (the Parley message id, when present) and
 * `messaging.message.body.size`. With `tracer` undefined the bus is returned unchanged: tracing
 * off costs nothing per message.
 */
export function createTracedBus<B extends Bus>(bus: B, options: TracedBusOptions): Bus {
  const tracer = options.tracer;
  if (!tracer) return bus;
  const propagator: Pick<TextMapPropagator, 'inject' | 'extract'> = options.propagator ?? propagation;

  const attributes = (destination: string, operation: string, message: { data: Uint8Array; headers?: BusHeaders | undefined }, about?: PublishedMessageInfo): Attributes => {
    const attrs: Attributes = {
      'messaging.system': 'nats',
      'messaging.destination.name': destination,
      'messaging.operation.type': operation,
      'messaging.message.body.size': message.data.byteLength,
    };
    const id = message.headers?.[HEADER_MSG_ID] ?? about?.msgId;
    if (id !== undefined) attrs['messaging.message.id'] = id;
    return attrs;
  };

  const traced = (handler: BusHandler): BusHandler => (message: BusMessage) => {
    const destination = subjectPrefix(message.subject);
    const parent = propagator.extract(ROOT_CONTEXT, message.headers, getter);
    const span = tracer.startSpan(`process ${destination}`, { kind: SpanKind.CONSUMER, attributes: attributes(destination, 'process', message) }, parent);
    try {
      context.with(trace.setSpan(parent, span), handler, undefined, message);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  };

  return {
    get state() {
      return bus.state;
    },
    publish(subject: string, data: Uint8Array, headers?: BusHeaders, about?: PublishedMessageInfo) {
      const destination = subjectPrefix(subject);
      const span = tracer.startSpan(`publish ${destination}`, { kind: SpanKind.PRODUCER, attributes: attributes(destination, 'send', { data, headers }, about) });
      // Headers travel anyway for the context: the consumer span gets the message id from them too.
      const carrier: BusHeaders = about?.msgId === undefined ? { ...headers } : { [HEADER_MSG_ID]: about.msgId, ...headers };
      propagator.inject(trace.setSpan(context.active(), span), carrier, setter);
      return bus.publish(subject, data, carrier, about).then(
        () => span.end(),
        (error: unknown) => {
          span.recordException(error as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          span.end();
          throw error;
        },
      );
    },
    subscribe(subject: string, handler: BusHandler): BusSubscription {
      return bus.subscribe(subject, traced(handler));
    },
    onStateChange(listener) {
      return bus.onStateChange(listener);
    },
    flush() {
      return bus.flush();
    },
    subscriptionCount() {
      return bus.subscriptionCount();
    },
    close() {
      return bus.close();
    },
  };
}
