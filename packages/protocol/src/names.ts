/**
 * Names that come from users: namespaces, rooms, user ids. They are validated at the edge and,
 * wherever they become part of a bus subject, encoded so that no name can add a subject token
 * or a wildcard (`.`, `*`, `>`, white space) and reach another room or tenant.
 */

/** A tenant namespace: lower-case letters, digits and dashes; used raw in subjects. */
export const NAMESPACE_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A room name: 1-128 characters of letters and digits in any script, and `_ - : @ / # + = ~ !`.
 * No dots, wildcards, white space or control characters.
 */
export const ROOM_PATTERN = /^[\p{L}\p{N}\p{M}_\-:@/#+=~!]{1,128}$/u;

export const MAX_USER_ID_LENGTH = 128;

export function isNamespace(value: unknown): value is string {
  return typeof value === 'string' && NAMESPACE_PATTERN.test(value);
}

export function isRoomName(value: unknown): value is string {
  return typeof value === 'string' && ROOM_PATTERN.test(value);
}

/** A user id: 1-128 characters, no control characters, not starting with `$` (reserved). `a.b@x.com` is fine. */
export function isUserId(value: unknown): value is string {
  // eslint-disable-next-line no-control-regex
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_USER_ID_LENGTH && value.isWellFormed() && !value.startsWith('$') && !/[\u0000-\u001f\u007f]/.test(value);
}

/** Encodes a user-supplied name as one subject token: base64url has no `.`, `*`, `>` or spaces. */
export function subjectToken(name: string): string {
  // An empty token would make an invalid subject; lone surrogates would all encode as U+FFFD.
  if (name.length === 0 || !name.isWellFormed()) throw new RangeError('a subject name must be a non-empty, well-formed string');
  return Buffer.from(name, 'utf8').toString('base64url');
}

export function fromSubjectToken(token: string): string {
  return Buffer.from(token, 'base64url').toString('utf8');
}

/** Bus subjects. The namespace always comes from a verified token or API key, never from a frame. */
export const subjects = {
  room: (ns: string, room: string) => `chat.${ns}.${subjectToken(room)}`,
  /** Every room's messages in a namespace (the webhook dispatchers' `message.published`). */
  allRooms: (ns: string) => `chat.${ns}.*`,
  user: (ns: string, user: string) => `user.${ns}.${subjectToken(user)}`,
  /** Every user's direct messages in a namespace (a gateway with many of its users takes this one). */
  allUsers: (ns: string) => `user.${ns}.*`,
  presence: (ns: string, room: string) => `presence.${ns}.${subjectToken(room)}`,
  /** A room's lifecycle (members joined and left, occupied, vacated) for tenant backends (webhooks); no client subscribes. */
  roomEvents: (ns: string, room: string) => `events.${ns}.${subjectToken(room)}`,
  control: (ns: string) => `ctl.${ns}`,
  /** Frames for this gateway's SSE connections, sent with HTTP to another gateway (`POST /v1/sse/{connection}` behind a load balancer). */
  gatewayInbox: (gatewayId: string) => `gw.${subjectToken(gatewayId)}.sse`,
  /** The answers to what this gateway passed on to another's inbox (accepted, or no such connection). */
  gatewayReplies: (gatewayId: string) => `gw.${subjectToken(gatewayId)}.sse-replies`,
  allControl: () => 'ctl.*',
} as const;
