import { HEADER_TIMESTAMP, type Bus, type BusMessage, type BusSubscription } from '@parley/bus';
import { subjects } from '@parley/protocol';

/** Native fan-out to local sockets subscribed to a topic (uWebSockets.js `app.publish`). */
export interface Fanout {
  publish(topic: string, data: Uint8Array): void;
}

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
 * Interest-based bridging between the bus and local sockets. A gateway holds exactly one bus
 * subscription per room subject (plus one for the room's presence events) while at least one
 * local connection is in the room, and one per user with a local connection. Members of history
 * rooms take only the presence subscription: their messages come from the room's history feed
 * (`history-feeds.ts`). The bus subject is
 * also the uWebSockets.js topic, so a bus message is fanned out with one native publish, bytes
 * unchanged (serialized once, by the publisher).
 */
export function createHub(bus: Bus, fanout: Fanout, observer: HubObserver = {}) {
  const rooms = new Map<string, Interest>();
  const presences = new Map<string, Interest>();
  const users = new Map<string, Interest>();

  const forward = (kind: 'room' | 'presence' | 'user') => (message: BusMessage) => {
    fanout.publish(message.subject, message.data);
    if (observer.delivered) {
      const ts = message.headers[HEADER_TIMESTAMP];
      observer.delivered(kind, message, ts === undefined ? undefined : Number(ts));
    }
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

  return {
    /** Topics a member socket subscribes to: room messages and the room's presence events. */
    roomTopics(ns: string, room: string) {
      return { messages: subjects.room(ns, room), presence: subjects.presence(ns, room) };
    },
    userTopic(ns: string, user: string) {
      return subjects.user(ns, user);
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
    addUser(ns: string, user: string) {
      const topic = subjects.user(ns, user);
      return acquire(users, topic, () => [bus.subscribe(topic, forwardUser)]);
    },
    removeUser(ns: string, user: string) {
      release(users, subjects.user(ns, user));
    },
    /** Rooms with local members (every joined room holds its presence subscription). */
    roomCount() {
      return presences.size;
    },
    userCount() {
      return users.size;
    },
  };
}

export type Hub = ReturnType<typeof createHub>;
