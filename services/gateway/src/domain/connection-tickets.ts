import { randomBytes } from 'node:crypto';

/** @default 30 s: how long a connection ticket may wait to be used. */
export const TICKET_TTL_MS = 30_000;

/**
 * Single-use connection tickets (SSE): a client exchanges its token, sent in a header, for a
 * ticket it may put in a URL. The store keeps the token under the ticket until it is taken once
 * or expires; every gateway of a cluster shares it (Redis), so the stream may open on any of them.
 */
export interface TicketStore {
  put(ticket: string, token: string, ttlMs: number): Promise<void>;
  /** The token, once: a second take, or one after the ticket expired, gets undefined. */
  take(ticket: string): Promise<string | undefined>;
}

/** 256 random bits, URL-safe. */
export function newTicket(): string {
  return randomBytes(32).toString('base64url');
}

/** One process's tickets (single-process mode and tests). */
export function createMemoryTicketStore(): TicketStore {
  const tickets = new Map<string, { token: string; expiresAt: number }>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [ticket, entry] of tickets) if (entry.expiresAt <= now) tickets.delete(ticket);
  }, TICKET_TTL_MS);
  sweep.unref();
  return {
    async put(ticket, token, ttlMs) {
      tickets.set(ticket, { token, expiresAt: Date.now() + ttlMs });
    },
    async take(ticket) {
      const entry = tickets.get(ticket);
      tickets.delete(ticket);
      return entry && entry.expiresAt > Date.now() ? entry.token : undefined;
    },
  };
}
