import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { initTracing, type Tracing } from '@parley/observability';
import { ParleyError, subjects } from '@parley/protocol';
import { HEADER_MSG_ID, HEADER_TRACEPARENT, createMemoryBus, createTracedBus, subjectPrefix, type BusMessage } from '../src/index.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

describe('traced bus', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;

  beforeAll(async () => {
    tracing = await initTracing('bus-test', { exporter });
  });
  afterAll(() => tracing.shutdown());
  beforeEach(() => exporter.reset());

  it('traced bus - without a tracer the bus itself is returned', () => {
    const bus = createMemoryBus();
    expect(createTracedBus(bus, { tracer: undefined })).toBe(bus);
  });

  it('traced bus - the subject prefix keeps kind and namespace only', () => {
    expect(subjectPrefix(subjects.room('acme', 'secret room'))).toBe('chat.acme');
    expect(subjectPrefix(subjects.user('acme', 'alice'))).toBe('user.acme');
    expect(subjectPrefix(subjects.control('acme'))).toBe('ctl.acme');
    expect(subjectPrefix('single')).toBe('single');
  });

  it('traced bus - publish injects traceparent; the delivery runs in a CONSUMER span, child of the PRODUCER span', async () => {
    const bus = createTracedBus(createMemoryBus(), { tracer: tracing.tracer });
    const subject = subjects.room('acme', 'top secret');
    const seen = new Promise<{ message: BusMessage; activeTraceId: string | undefined }>((resolve) => {
      bus.subscribe('chat.acme.*', (message) => resolve({ message, activeTraceId: trace.getActiveSpan()?.spanContext().traceId }));
    });
    await bus.publish(subject, bytes('hi'), { [HEADER_MSG_ID]: 'm-1' });
    const { message, activeTraceId } = await seen;

    const match = TRACEPARENT.exec(message.headers[HEADER_TRACEPARENT] ?? '');
    expect(match).not.toBeNull();
    expect(message.headers[HEADER_MSG_ID]).toBe('m-1');
    const spans = exporter.getFinishedSpans();
    const producer = spans.find((s) => s.kind === SpanKind.PRODUCER);
    const consumer = spans.find((s) => s.kind === SpanKind.CONSUMER);
    expect(producer?.name).toBe('publish chat.acme');
    expect(consumer?.name).toBe('process chat.acme');
    expect(producer?.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': 'chat.acme',
      'messaging.operation.type': 'send',
      'messaging.message.id': 'm-1',
      'messaging.message.body.size': 2,
    });
    expect(match?.[1]).toBe(producer?.spanContext().traceId);
    expect(match?.[2]).toBe(producer?.spanContext().spanId);
    expect(consumer?.spanContext().traceId).toBe(producer?.spanContext().traceId);
    expect(consumer?.parentSpanContext?.spanId).toBe(producer?.spanContext().spanId);
    // The handler ran with the consumer span active, so its logs carry the same trace id.
    expect(activeTraceId).toBe(producer?.spanContext().traceId);
    // No user-supplied name reaches a span.
    const encodedRoom = subject.split('.')[2] as string;
    expect(JSON.stringify(spans.map((s) => [s.name, s.attributes]))).not.toContain(encodedRoom);
  });

  it('traced bus - a message id given beside the headers names both spans and travels in the headers', async () => {
    const bus = createTracedBus(createMemoryBus(), { tracer: tracing.tracer });
    const seen = new Promise<BusMessage>((resolve) => bus.subscribe('chat.acme.x', resolve));
    await bus.publish('chat.acme.x', bytes('x'), undefined, { msgId: 'm-3' });
    expect((await seen).headers[HEADER_MSG_ID]).toBe('m-3');
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => [s.kind, s.attributes['messaging.message.id']])).toEqual([
      [SpanKind.PRODUCER, 'm-3'],
      [SpanKind.CONSUMER, 'm-3'],
    ]);
  });

  it('traced bus - the caller headers are not modified', async () => {
    const bus = createTracedBus(createMemoryBus(), { tracer: tracing.tracer });
    const headers = { [HEADER_MSG_ID]: 'm-2' };
    await bus.publish('chat.acme.x', bytes('x'), headers);
    expect(headers).toEqual({ [HEADER_MSG_ID]: 'm-2' });
  });

  it('traced bus - a refused publish ends its span with an error and still rejects', async () => {
    const inner = createMemoryBus();
    const bus = createTracedBus(inner, { tracer: tracing.tracer });
    inner.disconnectForTest(true);
    expect(bus.state).toBe('reconnecting');
    const error = await bus.publish('chat.acme.x', bytes('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParleyError);
    const [span] = exporter.getFinishedSpans();
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.events.some((e) => e.name === 'exception')).toBe(true);
  });

  it('traced bus - state, subscription count and unsubscribe go to the inner bus', async () => {
    const inner = createMemoryBus();
    const bus = createTracedBus(inner, { tracer: tracing.tracer });
    const states: string[] = [];
    bus.onStateChange((s) => states.push(s));
    const sub = bus.subscribe('chat.acme.a', () => {});
    expect(bus.subscriptionCount()).toBe(1);
    expect(inner.subscriptionCount()).toBe(1);
    sub.unsubscribe();
    expect(bus.subscriptionCount()).toBe(0);
    inner.disconnectForTest(true);
    inner.disconnectForTest(false);
    expect(states).toEqual(['reconnecting', 'connected']);
    await bus.close();
    expect(inner.state).toBe('closed');
  });
});
