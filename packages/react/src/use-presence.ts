import { useEffect, useMemo, useState } from 'react';
import type { Member } from '@parley/client';
import { useParley } from './provider.ts';
import { acquireRoom, releaseRoom } from './room-membership.ts';

/** Who is in the room (sorted by user id), kept current; joins the room while mounted. */
export function usePresence(name: string): Member[] {
  const client = useParley();
  const room = useMemo(() => client.room(name), [client, name]);
  const [members, setMembers] = useState<Member[]>(() => sorted(room.members));
  useEffect(() => {
    const off = room.on('members', (map) => setMembers(sorted(map)));
    acquireRoom(room).catch(() => {});
    setMembers(sorted(room.members));
    return () => {
      off();
      releaseRoom(room);
    };
  }, [room]);
  return members;
}

const sorted = (map: ReadonlyMap<string, Member>) => [...map.values()].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
