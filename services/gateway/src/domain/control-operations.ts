import { DEFAULT_CONTROL_RETENTION_SECONDS, type BusMessage } from '@parley/bus';
import { controlMessageSchema } from '@parley/protocol';
import type { Logger } from '@parley/observability';
import type { GatewayMetrics } from '../metrics.ts';
import type { RevocationList } from './revocations.ts';
import type { SessionRegistry } from './session-registry.ts';

/**
 * Applies the control messages of the tenants' backends (`ctl.<ns>`: revoke a token or a user,
 * disconnect a user, kick a user from a room) to this gateway's sessions and revocation list.
 */
export function createControlOperations(deps: { sessions: SessionRegistry; revocations: RevocationList; metrics: GatewayMetrics; logger: Logger }) {
  const { sessions, revocations, metrics, logger } = deps;
  const decoder = new TextDecoder();
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
    if (control.op === 'revoke') {
      revocations.revokeUser(ns, control.user, control.before, DEFAULT_CONTROL_RETENTION_SECONDS);
      metrics.revocations.set(revocations.size());
    }
    for (const s of sessions.sessionsOf(ns, control.user)) {
      if (control.op === 'disconnect') s.close('disconnected', control.reason ?? 'disconnected by the application');
      else if (control.op === 'revoke' && s.token.claims.iat <= control.before) s.close('token_revoked', 'token revoked');
      else if (control.op === 'kick' && s.rooms.has(control.room)) {
        void s.leaveRoom(control.room, true);
        s.error('forbidden', undefined, control.room, 'removed from the room by a moderator');
      }
    }
  };
}
