import { useEffect, useMemo, useState } from 'react';
import type { ParleyError, PublishAck, Room, RoomMessage } from '@parley/client';
import { useParley } from './provider.ts';
import { acquireRoom, releaseRoom } from './room-membership.ts';

export interface UseRoomOptions {
  /** Messages kept in `messages`, newest last (default 200). */
  keep?: number;
  /** Load this many stored messages on join (history tenants; default 50, 0 for none). */
  history?: number;
}

export interface RoomState {
  room: Room;
  /** History on join, then every message once and in order (also across reconnects). */
  messages: RoomMessage[];
  joined: boolean;
  /** Why the join failed for good, if it did. */
  error: ParleyError | undefined;
  publish(data: unknown, options?: { ephemeral?: boolean }): Promise<PublishAck>;
}

/** Joins a room while the component is mounted and keeps its messages. */
export function useRoom(name: string, options: UseRoomOptions = {}): RoomState {
  const client = useParley();
  const room = useMemo(() => client.room(name), [client, name]);
  const keep = options.keep ?? 200;
  const historyLimit = options.history ?? 50;
  const [messages, setMessages] = useState<RoomMessage[]>([]);
  const [joined, setJoined] = useState(room.joined);
  const [error, setError] = useState<ParleyError | undefined>(undefined);

  useEffect(() => {
    setMessages([]);
    setError(undefined);
    const seen = new Set<string>();
    const add = (list: RoomMessage[], atStart = false) => {
      const fresh = list.filter((m) => !seen.has(m.msgId));
      for (const m of fresh) seen.add(m.msgId);
      if (fresh.length) setMessages((prev) => (atStart ? [...fresh, ...prev] : [...prev, ...fresh]).slice(-keep));
    };
    const offs = [
      room.on('message', (m) => add([m])),
      room.on('joined', () => setJoined(true)),
      room.on('gap', ({ newest }) => newest && add(newest.messages)),
      room.on('error', setError),
    ];
    const offState = client.on('state', (s) => s.state !== 'connected' && setJoined(false));
    let active = true;
    acquireRoom(room).then(
      async () => {
        if (!active) return;
        setJoined(true);
        if (historyLimit > 0) {
          const page = await room.history({ limit: historyLimit }).catch(() => undefined);
          if (active && page) add(page.messages, true);
        }
      },
      (e: ParleyError) => active && setError(e),
    );
    return () => {
      active = false;
      for (const off of offs) off();
      offState();
      releaseRoom(room);
    };
  }, [client, room, keep, historyLimit]);

  return { room, messages, joined, error, publish: (data, o) => room.publish(data, o) };
}
