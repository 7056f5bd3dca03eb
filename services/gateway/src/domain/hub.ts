import type { Bus, BusMessage, BusSubscription } from '@parley/bus';
import { isBinaryFrame, roomMessageTimestamp, subjects } from '@parley/protocol';
import type { Fanout } from './fanout.ts';

export interface HubObserver {
  /** A bus message reached this gateway and was fanned out to its local subscribers. */
  delivered?(kind: 'room' | 'presence' | 'user', message: BusMessage, publishedAt: number | undefined): void;
}

interface Interest {
  count: number;
  subscriptions: BusSubscription[];
  /** Settles once the bus server has the subscription: from then on no publish to it is missed. */
  ready: Promise<void>;
}

/**
 * @default 1000: distinct local users of one tenant up to which a gateway subscribes each user's
 * direct-message subject; past it, one wildcard subscription takes all of the tenant's direct
 * messages. A bus subscription costs about 1.4 KB of client memory, so this bounds that cost per
 * tenant, at the price of receiving (and dropping: no local session) direct messages for users
 * connected elsewhere.
 */
export const DEFAULT_USER_SUBSCRIPTIONS_PER_TENANT = 1000;

interface TenantUsers {
  /** Local connections of the tenant (each `addUser` not yet removed). */
  connections: number;
  /** One subscription per user while the tenant has few local users; undefined once the wildcard is live. */
  exact: Map<string, Interest> | undefined;
  wildcard: { subscription: BusSubscription; ready: Promise<void>; live: boolean } | undefined;
}

/**
 * Interest-based bridging between the bus and local sockets. A gateway holds exactly one bus
 * subscription per room subject (plus one for the room's presence events) while at least one
 * local connection is in the room, and, per tenant, one per user with a local connection, or one
 * wildcard for all of the tenant's users once there are more than `userSubscriptionsPerTenant`
 * of them. Members of history rooms take only the presence subscription: their messages come
 * from the room's history feed (`history-feeds.ts`). A room's (and its presence events') bus
 * subject is also the uWebSockets.js topic, so a bus message is fanned out with one native
 * publish, bytes unchanged (serialized once, by the publisher); a direct message goes to
 * `deliverToUser`, which finds the user's sessions.
 */
export interface HubOptions {
  userSubscriptionsPerTenant?: number;
  /**
   * Hands a direct message (its subject is `subjects.user(ns, user)`) to the user's local
   * sockets. Default: a fan-out publish on the subject as a topic.
   */
  deliverToUser?: (subject: string, data: Uint8Array) => void;
}

/** The fan-out topic of a room's binary frames (its members holding `binary` subscribe it); not a bus subject. */
const binaryTopic = (presenceSubject: string) => `${presenceSubject}#binary`;

export function createHub(bus: Bus, fanout: Fanout, observer: HubObserver = {}, options: HubOptions = {}) {
  const userSubscriptionsPerTenant = options.userSubscriptionsPerTenant ?? DEFAULT_USER_SUBSCRIPTIONS_PER_TENANT;
  const deliverToUser = options.deliverToUser ?? ((subject: string, data: Uint8Array) => fanout.publish(subject, data));
  const rooms = new Map<string, Interest>();
  const presences = new Map<string, Interest>();
  const tenants = new Map<string, TenantUsers>();

  const forward = (kind: 'room' | 'presence' | 'user') => (message: BusMessage) => {
    if (kind === 'user') deliverToUser(message.subject, message.data);
    // Binary frames travel with the room's presence events (every gateway with members has that subscription) and go to the members holding `binary`.
    else if (kind === 'presence' && isBinaryFrame(message.data)) fanout.publish(binaryTopic(message.subject), message.data, true);
    else fanout.publish(message.subject, message.data);
    if (observer.delivered) observer.delivered(kind, message, kind === 'room' ? roomMessageTimestamp(message.data) : undefined);
  };
  const forwardRoom = forward('room');
  const forwardPresence = forward('presence');
  const forwardUser = forward('user');

  /** Counts one more local member; the first takes the bus subscription. Resolves once it is active. */
  const acquire = (map: Map<string, Interest>, key: string, subscribe: () => BusSubscription[]): Promise<void> => {
    const interest = map.get(key);
    if (interest) {
      interest.count++;
      return interest.ready;
    }
    // While the bus is down the subscription is made on reconnect; there is nothing to wait for.
    const ready = bus.flush().catch(() => undefined);
    map.set(key, { count: 1, subscriptions: subscribe(), ready });
    return ready;
  };
  const release = (map: Map<string, Interest>, key: string) => {
    const interest = map.get(key);
    if (!interest) return;
    if (--interest.count > 0) return;
    map.delete(key);
    for (const s of interest.subscriptions) s.unsubscribe();
  };

  /**
   * Replaces a tenant's per-user subscriptions with one wildcard, without losing or doubling a
   * message: until the bus confirms the wildcard, its copies are dropped and the per-user
   * subscriptions deliver; in the same step that makes the wildcard live, they are unsubscribed
   * (the bus delivers in order on one connection, so each message is taken exactly once).
   */
  const switchToWildcard = (ns: string, tenant: TenantUsers) => {
    const wildcard: NonNullable<TenantUsers['wildcard']> = {
      live: false,
      subscription: bus.subscribe(subjects.allUsers(ns), (message) => {
        if (wildcard.live) forwardUser(message);
      }),
      ready: bus
        .flush()
        .catch(() => undefined)
        .then(() => {
          wildcard.live = true;
          for (const interest of tenant.exact?.values() ?? []) for (const s of interest.subscriptions) s.unsubscribe();
          tenant.exact = undefined;
        }),
    };
    tenant.wildcard = wildcard;
  };

  return {
    /** Topics a member socket subscribes to: room messages and the room's presence events. */
    roomTopics(ns: string, room: string) {
      const presence = subjects.presence(ns, room);
      return { messages: subjects.room(ns, room), presence, binary: binaryTopic(presence) };
    },
    /** A local member joined a room whose messages come straight from the bus (no history). */
    /** Resolves once this gateway receives every message published to the room from now on. */
    joinRoom(ns: string, room: string): Promise<unknown> {
      const messages = subjects.room(ns, room);
      return Promise.all([acquire(rooms, messages, () => [bus.subscribe(messages, forwardRoom)]), this.joinPresence(ns, room)]);
    },
    leaveRoom(ns: string, room: string) {
      release(rooms, subjects.room(ns, room));
      this.leavePresence(ns, room);
    },
    /** Presence events only: a member of a history room (its messages come from the room's history feed). */
    joinPresence(ns: string, room: string) {
      const presence = subjects.presence(ns, room);
      return acquire(presences, presence, () => [bus.subscribe(presence, forwardPresence)]);
    },
    leavePresence(ns: string, room: string) {
      release(presences, subjects.presence(ns, room));
    },
    /** A local connection of the user; resolves once this gateway receives the user's direct messages. */
    addUser(ns: string, user: string): Promise<void> {
      let tenant = tenants.get(ns);
      if (!tenant) tenants.set(ns, (tenant = { connections: 0, exact: new Map(), wildcard: undefined }));
      tenant.connections++;
      const exact = tenant.exact;
      // A user already subscribed keeps that subscription until the wildcard is live.
      if (exact && (exact.has(user) || (!tenant.wildcard && exact.size < userSubscriptionsPerTenant))) {
        const topic = subjects.user(ns, user);
        return acquire(exact, user, () => [bus.subscribe(topic, forwardUser)]);
      }
      if (!tenant.wildcard) switchToWildcard(ns, tenant);
      return tenant.wildcard!.ready;
    },
    removeUser(ns: string, user: string) {
      const tenant = tenants.get(ns);
      if (!tenant) return;
      if (tenant.exact) release(tenant.exact, user);
      if (--tenant.connections > 0) return;
      tenants.delete(ns);
      tenant.wildcard?.subscription.unsubscribe();
      for (const interest of tenant.exact?.values() ?? []) for (const s of interest.subscriptions) s.unsubscribe();
    },
    /** Rooms with local members (every joined room holds its presence subscription). */
    roomCount() {
      return presences.size;
    },
    /** Tenants whose direct messages this gateway takes with one wildcard subscription. */
    wildcardTenantCount() {
      let count = 0;
      for (const t of tenants.values()) if (t.wildcard) count++;
      return count;
    },
    /** Bus subscriptions held for direct messages (per user, or one wildcard per tenant). */
    userSubscriptionCount() {
      let count = 0;
      for (const t of tenants.values()) count += (t.exact?.size ?? 0) + (t.wildcard ? 1 : 0);
      return count;
    },
  };
}

export type Hub = ReturnType<typeof createHub>;
