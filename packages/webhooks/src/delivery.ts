import { Webhook } from 'standardwebhooks';
import type { WebhookEndpoint } from './endpoint.ts';
import type { WebhookEvent } from './events.ts';
import { refusalOf, type UrlPolicy } from './url-policy.ts';

export interface DeliveryOptions {
  policy: UrlPolicy;
  /** @default 10000 */
  timeoutMs?: number;
}

export type DeliveryResult = { ok: true; status: number } | { ok: false; error: string; status?: number };

/** At most this much of a response body is read (and then dropped). */
export const MAX_RESPONSE_BYTES = 4096;

/**
 * One attempt to deliver `event` to `endpoint`: a POST of the event as JSON, signed per Standard
 * Webhooks (`webhook-id` = the event id, so a retry carries the same one). A 2xx answer is a
 * success; redirects are not followed; the URL is checked again before each attempt (DNS may change).
 */
export async function deliver(endpoint: WebhookEndpoint, event: WebhookEvent, options: DeliveryOptions): Promise<DeliveryResult> {
  const refusal = await refusalOf(endpoint.url, options.policy);
  if (refusal) return { ok: false, error: `refused: ${refusal}` };
  const body = JSON.stringify(event);
  const now = new Date();
  const signature = signerOf(endpoint.secret).sign(event.id, now, body);
  try {
    const response = await fetch(endpoint.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Parley-Webhooks/1',
        'webhook-id': event.id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': signature,
      },
      body,
    });
    await drain(response);
    if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
    return { ok: false, status: response.status, error: response.status >= 300 && response.status < 400 ? `redirect ${response.status} (not followed)` : `HTTP ${response.status}` };
  } catch (error) {
    const e = error as Error;
    return { ok: false, error: e.name === 'TimeoutError' ? `no answer within ${options.timeoutMs ?? 10_000} ms` : `${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}` };
  }
}

const signers = new Map<string, Webhook>();
/** The Standard Webhooks signer of a secret (its key decoded once, not per delivery). */
function signerOf(secret: string): Webhook {
  let signer = signers.get(secret);
  if (!signer) {
    if (signers.size >= 10_000) signers.clear();
    signer = new Webhook(secret);
    signers.set(secret, signer);
  }
  return signer;
}

async function drain(response: Response) {
  if (!response.body) return;
  const reader = response.body.getReader();
  let read = 0;
  try {
    while (read < MAX_RESPONSE_BYTES) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
