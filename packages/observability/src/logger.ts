import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Secrets never reach them: any field named like a credential is
 * replaced before serialization, at any depth we know of.
 */
export const REDACTED_PATHS = [
  'token', '*.token', 'apiKey', '*.apiKey', 'key', '*.key', 'authorization', '*.authorization',
  'headers.authorization', 'req.headers.authorization', 'headers["sec-websocket-protocol"]',
  'adminToken', '*.adminToken', 'secret', '*.secret', 'password', '*.password',
];

export function createLogger(service: string, options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      name: service,
      level: options.level ?? 'info',
      base: { service },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}
