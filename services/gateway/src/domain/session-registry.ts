import { subjects } from '@parley/protocol';
import type { Session } from './session.ts';

/**
 * The sessions of this gateway: all of them, by user (for direct messages and control
 * operations) and counted per tenant (for the connection limit).
 */
export class SessionRegistry {
  private readonly sessions = new Set<Session>();
  /** A user's sessions on this gateway, by their direct-message subject: most users have one, kept without a Set. */
  private readonly byUser = new Map<string, Session | Set<Session>>();
  private readonly perTenant = new Map<string, number>();

  get size() {
    return this.sessions.size;
  }

  [Symbol.iterator]() {
    return this.sessions.values();
  }

  add(session: Session) {
    this.sessions.add(session);
    const key = subjects.user(session.ns, session.user);
    const others = this.byUser.get(key);
    if (others === undefined) this.byUser.set(key, session);
    else if (others instanceof Set) others.add(session);
    else this.byUser.set(key, new Set([others, session]));
    this.perTenant.set(session.ns, this.connectionsOf(session.ns) + 1);
  }

  /** False when the session was not registered (already removed). */
  remove(session: Session): boolean {
    if (!this.sessions.delete(session)) return false;
    const key = subjects.user(session.ns, session.user);
    const others = this.byUser.get(key);
    if (others === session) this.byUser.delete(key);
    else if (others instanceof Set) {
      others.delete(session);
      if (others.size === 1) this.byUser.set(key, others.values().next().value!);
    }
    const left = this.connectionsOf(session.ns) - 1;
    if (left <= 0) this.perTenant.delete(session.ns);
    else this.perTenant.set(session.ns, left);
    return true;
  }

  has(session: Session): boolean {
    return this.sessions.has(session);
  }

  connectionsOf(ns: string): number {
    return this.perTenant.get(ns) ?? 0;
  }

  sessionsOf(ns: string, user: string): Iterable<Session> {
    return this.sessionsOnSubject(subjects.user(ns, user));
  }

  /** The sessions of the user whose direct-message subject this is. */
  sessionsOnSubject(subject: string): Iterable<Session> {
    const found = this.byUser.get(subject);
    return found === undefined ? [] : found instanceof Set ? found : [found];
  }

  /** Delivers to the sessions of the user whose direct-message subject this is, without allocating. */
  deliverOnSubject(subject: string, data: Uint8Array) {
    const found = this.byUser.get(subject);
    if (found instanceof Set) for (const s of found) s.deliver(data);
    else found?.deliver(data);
  }
}
