import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { readConfig, z } from '@parley/config';

/** Service name prefix of the `service.name` resource attribute: `parley-gateway`, `parley-auth`… */
export const TRACE_SERVICE_PREFIX = 'parley-';
/** The instrumentation scope name of every Parley tracer. */
export const TRACER_NAME = '@parley/observability';

export interface TracingOptions {
  /**
   * OTLP/HTTP (protobuf) base endpoint, as `OTEL_EXPORTER_OTLP_ENDPOINT`: spans go to
   * `<endpoint>/v1/traces`. Empty or unset (and no `exporter`) = tracing off.
   */
  endpoint?: string | undefined;
  /** Export to this exporter instead (tests: `InMemorySpanExporter`); spans are handed over as they end. */
  exporter?: SpanExporter;
  /** Fraction of new traces recorded (0..1); a message's delivery follows its publisher's decision. @default 1 */
  sampleRatio?: number;
  /** `service.instance.id` resource attribute, e.g. the gateway id. */
  instanceId?: string;
}

/**
 * The tracing of one process. Off (`enabled: false`, `tracer: undefined`) when neither an endpoint
 * nor an exporter is configured: then nothing is registered or loaded, the OpenTelemetry API
 * stays the no-op global, and callers skip instrumentation entirely (see `createTracedBus`).
 */
export interface Tracing {
  readonly enabled: boolean;
  /** The tracer to instrument with; undefined when tracing is off. */
  readonly tracer: Tracer | undefined;
  /** Exports every ended span that is still buffered. */
  flush(): Promise<void>;
  /** Flushes and stops exporting; safe to call when off. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, tracer: undefined, flush: async () => {}, shutdown: async () => {} };

let globalsRegistered = false;

/**
 * Starts tracing for `service` (`gateway`, `auth`, `presence`, `parley` in single-process mode).
 *
 * When on: registers (once per process) the AsyncLocalStorage context manager and the W3C
 * trace-context propagator as OpenTelemetry globals, and a tracer provider exporting over
 * OTLP/HTTP with batching (or to `exporter` without batching). The returned `tracer` comes from
 * this call's own provider, so several calls in one process (tests) each export to their own
 * exporter. The SDK is loaded only when tracing is on.
 */
export async function initTracing(service: string, options: TracingOptions = {}): Promise<Tracing> {
  const endpoint = options.endpoint?.trim();
  if (!options.exporter && !endpoint) return OFF;

  const [{ TracerProvider, BatchSpanProcessor, SimpleSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, AlwaysOnSampler }, { resourceFromAttributes }, semconv] =
    await Promise.all([import('@opentelemetry/sdk-trace'), import('@opentelemetry/resources'), import('@opentelemetry/semantic-conventions')]);
  await registerGlobals();

  const ratio = options.sampleRatio ?? 1;
  const root = ratio >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(Math.max(0, ratio));
  let spanProcessor;
  if (options.exporter) spanProcessor = new SimpleSpanProcessor({ exporter: options.exporter });
  else {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
    spanProcessor = new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: tracesUrl(endpoint ?? '') }) });
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      [semconv.ATTR_SERVICE_NAME]: `${TRACE_SERVICE_PREFIX}${service}`,
      ...(options.instanceId !== undefined && { [semconv.ATTR_SERVICE_INSTANCE_ID]: options.instanceId }),
    }),
    sampler: new ParentBasedSampler({ root }),
    spanProcessors: [spanProcessor],
  });
  // The first provider becomes the global one, for libraries that use `trace.getTracer`.
  trace.setGlobalTracerProvider(provider);
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    tracer: provider.getTracer(TRACER_NAME),
    flush: () => provider.forceFlush(),
    shutdown: () => (stopped ??= provider.shutdown()),
  };
}

/** `<endpoint>/v1/traces`, as the OTLP specification derives it from `OTEL_EXPORTER_OTLP_ENDPOINT`. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

async function registerGlobals() {
  if (globalsRegistered) return;
  globalsRegistered = true;
  const [{ AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }] = await Promise.all([
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
  ]);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

const tracingSchema = z.object({
  endpoint: z.url().optional(),
  sampleRatio: z.coerce.number().min(0).max(1).optional(),
});

/** Environment variables of the tracing settings (standard OpenTelemetry names). */
export const TRACING_ENV = {
  endpoint: 'OTEL_EXPORTER_OTLP_ENDPOINT',
  sampleRatio: 'OTEL_TRACES_SAMPLER_ARG',
} as const;

/** Reads the tracing settings; an unset or empty `OTEL_EXPORTER_OTLP_ENDPOINT` means off. */
export function readTracingConfig(env: Record<string, string | undefined>): Pick<TracingOptions, 'endpoint' | 'sampleRatio'> {
  const config = readConfig(tracingSchema, TRACING_ENV, env);
  return { ...(config.endpoint !== undefined && { endpoint: config.endpoint }), ...(config.sampleRatio !== undefined && { sampleRatio: config.sampleRatio }) };
}
export type { Tracer } from '@opentelemetry/api';
