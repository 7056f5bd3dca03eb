export { ParleyProvider, useParley } from './provider.ts';
export { useConnectionState } from './use-connection-state.ts';
export { useRoom, type RoomState, type UseRoomOptions } from './use-room.ts';
export { usePresence } from './use-presence.ts';
