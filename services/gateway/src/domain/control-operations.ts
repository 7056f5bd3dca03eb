import { DEFAULT_CONTROL_RETENTION_SECONDS, type BusMessage } from '@parley/bus';
import { controlMessageSchema, type ErrorCode } from '@parley/protocol';
import type { Logger } from '@parley/observability';
import type { GatewayMetrics } from '../metrics.ts';
import type { RevocationList } from './revocations.ts';
import type { SessionRegistry } from './session-registry.ts';
import type { RoomModerationGuard } from './room-moderation.ts';

/**
 * Applies the control messages of the tenants' backends and moderators (`ctl.<ns>`: revoke a token
 * or a user, disconnect a user, kick a user from a room, a room's moderation changed) to this
 * gateway's sessions, revocation list and moderation cache.
 */
export function createControlOperations(deps: { sessions: SessionRegistry; revocations: RevocationList; moderation: RoomModerationGuard; metrics: GatewayMetrics; logger: Logger }) {
  const { sessions, revocations, moderation, metrics, logger } = deps;
  const decoder = new TextDecoder();
  /** The user's connections leave the room, each told why with an error for the room. */
  const removeFromRoom = (ns: string, user: string, room: string, code: ErrorCode, message: string) => {
    for (const s of sessions.sessionsOf(ns, user)) {
      if (!s.rooms.has(room)) continue;
      void s.leaveRoom(room, true);
      s.error(code, undefined, room, message);
    }
  };
  return (message: BusMessage) => {
    const ns = message.subject.slice('ctl.'.length);
    let parsed;
    try {
      parsed = controlMessageSchema.safeParse(JSON.parse(decoder.decode(message.data)));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      logger.warn({ subject: message.subject }, 'ignored a malformed control message');
      return;
    }
    const control = parsed.data;
    if (control.op === 'revoke-token') {
      revocations.revokeToken(ns, control.jti, control.exp);
      metrics.revocations.set(revocations.size());
      for (const s of sessions) if (s.ns === ns && s.token.claims.jti === control.jti) s.close('token_revoked', 'token revoked');
      return;
    }
    if (control.op === 'moderation') {
      const removed = moderation.changed(ns, control);
      if (removed) removeFromRoom(ns, removed.user, control.room, removed.code, removed.message);
      return;
    }
    if (control.op === 'kick') {
      removeFromRoom(ns, control.user, control.room, 'forbidden', 'removed from the room by a moderator');
      return;
    }
    if (control.op === 'revoke') {
      revocations.revokeUser(ns, control.user, control.before, DEFAULT_CONTROL_RETENTION_SECONDS);
      metrics.revocations.set(revocations.size());
    }
    for (const s of sessions.sessionsOf(ns, control.user)) {
      if (control.op === 'disconnect') s.close('disconnected', control.reason ?? 'disconnected by the application');
      else if (control.op === 'revoke' && s.token.claims.iat <= control.before) s.close('token_revoked', 'token revoked');
    }
  };
}
