import type { ErrorBody } from '@parley/protocol';

/** A non-2xx answer of the admin API, or no answer at all (`status` 0). */
export class AdminApiError extends Error {
  override name = 'AdminApiError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.code = code;
  }
}

export interface AdminClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

/** A small client of the auth admin API (`Authorization: Bearer <admin token>`). */
export function createAdminClient(options: { baseUrl: string; adminToken: string; fetch?: typeof fetch; timeoutMs?: number }): AdminClient {
  const doFetch = options.fetch ?? fetch;
  const base = options.baseUrl.replace(/\/+$/, '');
  return {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      let res: Response;
      try {
        res = await doFetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${options.adminToken}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
          ...(body !== undefined && { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (error) {
        throw new AdminApiError(0, 'unreachable', `cannot reach the auth service at ${base}: ${(error as Error).message}`, { cause: error });
      }
      const text = await res.text();
      if (!res.ok) {
        let parsed: Partial<ErrorBody> = {};
        try {
          parsed = JSON.parse(text) as Partial<ErrorBody>;
        } catch {
          // Not one of our JSON errors (a proxy page, for example).
        }
        throw new AdminApiError(res.status, parsed.code ?? `http_${res.status}`, parsed.message ?? (text.slice(0, 200) || res.statusText));
      }
      return (text === '' ? undefined : JSON.parse(text)) as T;
    },
  };
}
