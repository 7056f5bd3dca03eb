/** Wire frames of protocol version 1 (docs/protocol.md), as the client uses them. */

export type UserInfo = Record<string, unknown>;

export interface Sender {
  user: string;
  conn?: string;
  info?: UserInfo;
}

/** A message in a room. */
export interface RoomMessage {
  room: string;
  msgId: string;
  from: Sender;
  data: unknown;
  /** Server time of the publish, ms since the epoch. */
  ts: number;
  /** Per-room sequence (tenants with history): strictly increasing, not contiguous. */
  seq?: number;
  /** True for ephemeral events (typing indicators and the like): never stored, no `seq`. */
  ephemeral?: boolean;
}

export interface DirectMessage {
  msgId: string;
  from: Sender;
  data: unknown;
  ts: number;
}

export interface Member {
  user: string;
  info?: UserInfo;
}

export interface HistoryPage {
  messages: RoomMessage[];
  first?: number;
  last?: number;
  /** More messages exist beyond this page (older for the newest page, newer for `after`). */
  more: boolean;
}

/** A room's moderation settings (docs/protocol.md, "Moderation"). */
export interface RoomSettings {
  /** Only invited users and moderators may join. */
  inviteOnly: boolean;
  /** Only moderators may publish. */
  readOnly: boolean;
  /** Seconds between two messages of one member (0: off). */
  slowModeSeconds: number;
  /** Most users in the room at once (0: no limit). */
  maxMembers: number;
}

/** What a moderator did in a room; `by` and `reason` unless the tenant hides moderators; `seq` for tenants with history. */
export type ModerationEvent =
  | { type: 'member.kicked' | 'member.banned' | 'member.muted'; room: string; user: string; until?: number; by?: string; reason?: string; seq?: number }
  | { type: 'member.unbanned' | 'member.unmuted' | 'member.invited' | 'member.uninvited'; room: string; user: string; by?: string; seq?: number }
  | { type: 'message.deleted'; room: string; deleted: { seq?: number; msgId?: string }; by?: string; reason?: string; seq?: number }
  | { type: 'room.settings'; room: string; settings: RoomSettings; by?: string; seq?: number };

export const MODERATION_EVENT_TYPES: ReadonlySet<string> = new Set(['member.kicked', 'member.banned', 'member.muted', 'member.unbanned', 'member.unmuted', 'member.invited', 'member.uninvited', 'message.deleted', 'room.settings']);

/** A binary frame from a member (docs/protocol.md, "Binary frames"). */
export interface BinaryMessage {
  room: string;
  from: string;
  data: Uint8Array;
}

export interface ServerLimits {
  maxFrameBytes: number;
  messagesPerSecond: number;
  burst: number;
  maxRooms: number;
}

export type ServerFrame =
  | { type: 'welcome'; protocol: number; conn: string; user: string; ns: string; exp: number; limits: ServerLimits }
  | { type: 'joined'; id?: string | number; room: string; seq?: number }
  | { type: 'ack'; id?: string | number; msgId?: string; seq?: number }
  | ({ type: 'message' } & RoomMessage)
  | ({ type: 'direct' } & DirectMessage)
  | { type: 'presence'; id?: string | number; room: string; members: Array<Member & { connections: number }> }
  | { type: 'presence.join'; room: string; user: string; info?: UserInfo }
  | { type: 'presence.leave'; room: string; user: string }
  | ({ type: 'history'; id?: string | number; room: string } & HistoryPage)
  | { type: 'error'; id?: string | number; room?: string; code: string; message: string; temporary: boolean; retryAfterMs?: number }
  | { type: 'settings'; id?: string | number; room: string; settings: RoomSettings }
  | ModerationEvent
  | { type: 'reconnect'; reason: string; delayMs: number }
  | { type: 'pong'; id?: string | number };

/** What the client needs of a WebSocket: the browser's and Node's global one both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol?: string;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  binaryType?: string;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;
