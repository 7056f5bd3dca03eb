import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';

// HTTP semantic-convention attribute names (stable).
const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
const ATTR_HTTP_ROUTE = 'http.route';
const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';

const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

/**
 * Hono middleware: one SERVER span per request, named `<METHOD> <route template>` (for example
 * `POST /v1/tokens`), child of the caller's W3C `traceparent` when there is one. Only the route
 * template is recorded, never the concrete path, query or headers (they carry user names and
 * credentials). Responses of 500 and above mark the span as an error. Without a tracer (tracing
 * off) it only calls `next`.
 *
 * Mount it first (`app.use('*', tracingMiddleware(tracer))`) so that it wraps every route.
 */
export function tracingMiddleware(tracer: Tracer | undefined): MiddlewareHandler {
  if (!tracer) return (_c, next) => next();
  return async (c, next) => {
    const method = c.req.method;
    const parent = propagation.extract(ROOT_CONTEXT, c.req.raw.headers, headerGetter);
    const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method } }, parent);
    try {
      await context.with(trace.setSpan(parent, span), next);
    } catch (error) {
      // Hono turns thrown errors into responses before this point; this is a last resort.
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      const route = routePath(c, c.req.routeIndex);
      if (route && route !== '*' && route !== '/*') {
        span.setAttribute(ATTR_HTTP_ROUTE, route);
        span.updateName(`${method} ${route}`);
      }
      const status = c.res.status;
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}
