import { useCallback, useSyncExternalStore } from 'react';
import type { StateChange } from '@parley/client';
import { useParley } from './provider.ts';

const snapshots = new WeakMap<object, StateChange>();

/** The connection state with its reason (and error when reconnecting or stopped); re-renders on change. */
export function useConnectionState(): StateChange {
  const client = useParley();
  const subscribe = useCallback(
    (notify: () => void) =>
      client.on('state', (change) => {
        snapshots.set(client, change);
        notify();
      }),
    [client],
  );
  const snapshot = useCallback(() => {
    const last = snapshots.get(client);
    if (last?.state === client.state) return last;
    // No event seen yet (the client connected before this hook subscribed): one stable object per state.
    const current: StateChange = { state: client.state, reason: '' };
    snapshots.set(client, current);
    return current;
  }, [client]);
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}
