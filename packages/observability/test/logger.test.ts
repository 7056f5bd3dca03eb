import { Writable } from 'node:stream';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { context, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, initTracing, type Tracing } from '../src/index.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, destination };
}

describe('logger', () => {
  let tracing: Tracing;
  beforeAll(async () => {
    tracing = await initTracing('logger-test', { exporter: new InMemorySpanExporter() });
  });
  afterAll(() => tracing.shutdown());

  it('logger - lines written inside a span carry its trace and span ids', () => {
    const { lines, destination } = capture();
    const logger = createLogger('gateway', { destination });
    const span = tracing.tracer!.startSpan('work');
    context.with(trace.setSpan(context.active(), span), () => logger.info('inside'));
    span.end();
    logger.info('outside');
    expect(lines[0]).toMatchObject({ msg: 'inside', service: 'gateway', trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId });
    expect(lines[1]?.msg).toBe('outside');
    expect(lines[1]).not.toHaveProperty('trace_id');
  });

  it('logger - credentials are redacted at the known paths', () => {
    const { lines, destination } = capture();
    const logger = createLogger('auth', { destination });
    const secret = 'pk_demo_SECRETSECRETSECRET';
    logger.info({ token: secret, apiKey: secret, body: { token: secret }, req: { headers: { authorization: `Bearer ${secret}` } }, adminToken: secret }, 'request');
    expect(JSON.stringify(lines)).not.toContain(secret);
    expect(lines[0]?.token).toBe('[redacted]');
  });
});
