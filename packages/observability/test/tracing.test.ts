import { SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { initTracing, readTracingConfig, tracesUrl, type Tracing } from '../src/index.ts';
import { OTLP_KIND, startOtlpCollector } from './support/otlp-collector.ts';

describe('tracing', () => {
  const started: Tracing[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((t) => t.shutdown()));
  });

  it('tracing - off without an endpoint or exporter: no tracer, nothing registered', async () => {
    const tracing = await initTracing('gateway', { endpoint: '  ' });
    expect(tracing.enabled).toBe(false);
    expect(tracing.tracer).toBeUndefined();
    // The global API stays the no-op one: spans made through it are not recording.
    const span = trace.getTracer('x').startSpan('noop');
    expect(span.isRecording()).toBe(false);
    span.end();
    await tracing.shutdown();
  });

  it('tracing - config: an unset or empty endpoint means off; a bad URL is refused', () => {
    expect(readTracingConfig({})).toEqual({});
    expect(readTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toEqual({});
    expect(readTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318', OTEL_TRACES_SAMPLER_ARG: '0.5' })).toEqual({ endpoint: 'http://otel:4318', sampleRatio: 0.5 });
    expect(() => readTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(tracesUrl('http://otel:4318/')).toBe('http://otel:4318/v1/traces');
  });

  it('tracing - spans carry the service name and reach the exporter', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = await initTracing('auth', { exporter, instanceId: 'auth-0' });
    started.push(tracing);
    expect(tracing.enabled).toBe(true);
    tracing.tracer?.startSpan('mint', { kind: SpanKind.INTERNAL }).end();
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('mint');
    expect(span?.resource.attributes['service.name']).toBe('parley-auth');
    expect(span?.resource.attributes['service.instance.id']).toBe('auth-0');
  });

  it('tracing - with a sample ratio of 0 new traces are not recorded', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = await initTracing('gateway', { exporter, sampleRatio: 0 });
    started.push(tracing);
    const span = tracing.tracer?.startSpan('dropped');
    expect(span?.isRecording()).toBe(false);
    span?.end();
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });

  it('tracing - exports over OTLP/HTTP (protobuf) to <endpoint>/v1/traces', async () => {
    const collector = await startOtlpCollector();
    try {
      const tracing = await initTracing('presence', { endpoint: collector.endpoint, instanceId: 'presence-1' });
      tracing.tracer?.startSpan('sweep', { kind: SpanKind.INTERNAL, attributes: { 'parley.swept': 3 } }).end();
      await tracing.shutdown();
      expect(collector.requests).toBe(1);
      expect(collector.spans).toEqual([
        expect.objectContaining({ service: 'parley-presence', instance: 'presence-1', name: 'sweep', kind: OTLP_KIND.internal, attributes: { 'parley.swept': 3 } }),
      ]);
      expect(collector.spans[0]?.traceId).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await collector.close();
    }
  });
});
