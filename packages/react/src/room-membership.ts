import type { Room } from '@parley/client';

/** Components using a room, per room object: the first joins it, the last one to unmount leaves it. */
const users = new WeakMap<Room, number>();

export function acquireRoom(room: Room): Promise<void> {
  users.set(room, (users.get(room) ?? 0) + 1);
  return room.join();
}

export function releaseRoom(room: Room): void {
  const left = (users.get(room) ?? 1) - 1;
  users.set(room, left);
  if (left === 0) room.leave().catch(() => {}); // disconnected: nothing to leave on the server
}
