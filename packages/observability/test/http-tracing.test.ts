import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { initTracing, tracingMiddleware, type Tracing } from '../src/index.ts';

describe('http tracing', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let app: Hono;

  beforeAll(async () => {
    tracing = await initTracing('auth', { exporter });
    app = new Hono();
    app.use('*', tracingMiddleware(tracing.tracer));
    app.post('/v1/tokens', (c) => c.json({ token: 'x' }));
    app.post('/v1/users/:user/revoke', (c) => c.json({ ok: true }));
    app.get('/boom', () => {
      throw new Error('boom');
    });
    app.onError((_error, c) => c.json({ code: 'internal' }, 500));
  });
  afterAll(() => tracing.shutdown());
  beforeEach(() => exporter.reset());

  it('http tracing - a request gets a SERVER span named by method and route template', async () => {
    const res = await app.request('/v1/tokens', { method: 'POST', headers: { authorization: 'Bearer pk_demo_SECRET' } });
    expect(res.status).toBe(200);
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('POST /v1/tokens');
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(span?.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/v1/tokens', 'http.response.status_code': 200 });
    expect(JSON.stringify(span?.attributes)).not.toContain('SECRET');
  });

  it('http tracing - the span continues the caller trace and never records the concrete path', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await app.request('/v1/users/alice%20smith/revoke', { method: 'POST', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('POST /v1/users/:user/revoke');
    expect(span?.spanContext().traceId).toBe(traceId);
    expect(span?.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(JSON.stringify(span?.attributes)).not.toContain('alice');
  });

  it('http tracing - server errors mark the span; unknown routes are named by method only', async () => {
    expect((await app.request('/boom')).status).toBe(500);
    expect((await app.request('/nowhere/secret-name')).status).toBe(404);
    const [boom, missing] = exporter.getFinishedSpans();
    expect(boom?.name).toBe('GET /boom');
    expect(boom?.status.code).toBe(SpanStatusCode.ERROR);
    expect(missing?.name).toBe('GET');
    expect(missing?.attributes['http.response.status_code']).toBe(404);
  });

  it('http tracing - without a tracer the middleware only passes through', async () => {
    const plain = new Hono();
    plain.use('*', tracingMiddleware(undefined));
    plain.get('/x', (c) => c.text('ok'));
    expect(await (await plain.request('/x')).text()).toBe('ok');
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });
});
