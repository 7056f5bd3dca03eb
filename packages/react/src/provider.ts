import { createContext, createElement, useContext, type ReactNode } from 'react';
import type { ParleyClient } from '@parley/client';

const ParleyContext = createContext<ParleyClient | null>(null);

/** Makes a client (from `createClient`) available to the hooks below it. The app owns its lifetime. */
export function ParleyProvider(props: { client: ParleyClient; children?: ReactNode }) {
  return createElement(ParleyContext.Provider, { value: props.client }, props.children);
}

/** The client of the nearest `ParleyProvider`. */
export function useParley(): ParleyClient {
  const client = useContext(ParleyContext);
  if (!client) throw new Error('useParley: no <ParleyProvider client={…}> above this component');
  return client;
}
