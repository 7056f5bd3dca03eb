/**
 * What a Parley HTTP API answered when it refused a request: its documented error `code` (see
 * docs/protocol.md), its message, the HTTP status and whether retrying later may succeed
 * (`temporary`: rate limits, unavailability, shutdown).
 */
export class ParleyApiError extends Error {
  override readonly name = 'ParleyApiError';
  readonly code: string;
  readonly status: number;
  readonly temporary: boolean;

  constructor(code: string, message: string, status: number, temporary: boolean) {
    super(message);
    this.code = code;
    this.status = status;
    this.temporary = temporary;
  }

  /** Builds the error from a response body, `{ code, message, temporary }` when Parley sent it. */
  static fromResponse(response: Response, body: unknown): ParleyApiError {
    const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const code = typeof fields.code === 'string' ? fields.code : `http_${response.status}`;
    const message = typeof fields.message === 'string' ? fields.message : `${response.status} ${response.statusText}`;
    const temporary = typeof fields.temporary === 'boolean' ? fields.temporary : response.status === 429 || response.status >= 500;
    return new ParleyApiError(code, message, response.status, temporary);
  }
}

/** The data of an openapi-fetch result, or its error thrown as a ParleyApiError. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) throw ParleyApiError.fromResponse(result.response, result.error);
  return result.data as T;
}
