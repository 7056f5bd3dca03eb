import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Secrets never reach them: any field named like a credential is
 * replaced before serialization, at any depth we know of.
 */
export const REDACTED_PATHS = [
  'token', '*.token', 'apiKey', '*.apiKey', 'key', '*.key', 'authorization', '*.authorization',
  'headers.authorization', 'req.headers.authorization', '*.headers.authorization', 'headers["sec-websocket-protocol"]',
  'req.headers["sec-websocket-protocol"]', 'headers.cookie', 'req.headers.cookie',
  'adminToken', '*.adminToken', 'secret', '*.secret', 'password', '*.password',
];

/**
 * Adds `trace_id` and `span_id` (W3C hex, OpenTelemetry log field names) to a log line written
 * while a sampled or recording span is active. With tracing off there is never an active span:
 * the cost is one context lookup per log line, nothing per message.
 */
export function traceContextMixin(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const ctx = span.spanContext();
  if (!isSpanContextValid(ctx)) return {};
  return { trace_id: ctx.traceId, span_id: ctx.spanId };
}

export function createLogger(service: string, options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      name: service,
      level: options.level ?? 'info',
      base: { service },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: traceContextMixin,
    },
    options.destination,
  );
}
