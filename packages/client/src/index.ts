export { createClient, ParleyClient, type ClientEvents, type ClientOptions, type ConnectionState, type StateChange, type Transport } from './client.ts';
export { Room, type PublishAck, type RoomEvents } from './room.ts';
export { ParleyError } from './errors.ts';
export { backoffDelay, DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS, type BackoffOptions } from './backoff.ts';
export type { BinaryMessage, DirectMessage, HistoryPage, Member, ModerationEvent, RoomMessage, RoomSettings, Sender, ServerLimits, UserInfo, WebSocketConstructor, WebSocketLike } from './types.ts';
