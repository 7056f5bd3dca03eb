/** Who a gateway event is about: a connection of a user of a tenant. */
export interface ConnectionView {
  readonly ns: string;
  readonly user: string;
  readonly conn: string;
}

/** A message a connection published and the gateway acknowledged. */
export interface PublishedMessage {
  room: string;
  msgId: string;
  /** The room's sequence (tenants with history). */
  seq?: number;
  kind: 'room' | 'ephemeral';
}

/**
 * What happens on a gateway's connections, for features that plug in beside the session
 * instead of editing it (auditing, moderation, metrics of their own). Every hook is optional and
 * called after the fact, on the gateway's event loop: a hook must be fast and must not throw
 * (what it throws is logged and ignored). `joined` and `left` are per connection; `left` also
 * comes for each room when the connection closes, before `closed`.
 */
export interface GatewayEvents {
  /** `welcome` was sent. */
  connected?(connection: ConnectionView): void;
  /** `joined` was sent for the room. */
  joined?(connection: ConnectionView, room: string): void;
  /** The connection left the room: its `leave`, a kick, a refresh without the grant, or its close. */
  left?(connection: ConnectionView, room: string): void;
  /** A publish was acknowledged. */
  published?(connection: ConnectionView, message: PublishedMessage): void;
  /** The connection closed, with the reason of `parley_gateway_connections_closed_total`. */
  closed?(connection: ConnectionView, reason: string): void;
}

/** One set of hooks calling every given set in turn; a hook that throws is reported and the others still run. */
export function combineGatewayEvents(all: readonly GatewayEvents[], onError: (error: unknown, hook: keyof GatewayEvents) => void): GatewayEvents {
  const combined: GatewayEvents = {};
  for (const name of ['connected', 'joined', 'left', 'published', 'closed'] as const) {
    const hooks = all.flatMap((events) => (events[name] ? [events[name].bind(events) as (...args: unknown[]) => void] : []));
    if (hooks.length === 0) continue;
    (combined as Record<string, (...args: unknown[]) => void>)[name] = (...args: unknown[]) => {
      for (const hook of hooks) {
        try {
          hook(...args);
        } catch (error) {
          onError(error, name);
        }
      }
    };
  }
  return combined;
}
