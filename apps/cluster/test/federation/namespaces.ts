import { execFileSync } from 'node:child_process';

/** A network namespace reached from this one through a veth pair on a /30 of its own. */
export interface Namespace {
  name: string;
  /** The namespace's address (its end of the veth). */
  address: string;
  /** This (the test's) namespace's end of the veth: the namespace reaches the test only here. */
  hostAddress: string;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/**
 * Creates one network namespace per name, each with loopback up and a veth pair to this
 * namespace (10.216.<octet>.<4i+1> here, <4i+2> there). The namespaces have no route to each
 * other: whatever joins them goes through a process in this namespace (a Toxiproxy link).
 */
export function createNamespaces(prefix: string, count: number): { namespaces: Namespace[]; remove(): void } {
  const octet = 1 + Math.floor(Math.random() * 250);
  const namespaces: Namespace[] = [];
  const remove = () => {
    for (const ns of namespaces) {
      try {
        ip('netns', 'del', ns.name);
      } catch {
        // already gone
      }
    }
  };
  try {
    for (let i = 0; i < count; i++) {
      const name = `${prefix}${i}`;
      const host = `${prefix}h${i}`;
      const peer = `${prefix}p${i}`;
      const ns: Namespace = { name, hostAddress: `10.216.${octet}.${4 * i + 1}`, address: `10.216.${octet}.${4 * i + 2}` };
      ip('netns', 'add', name);
      namespaces.push(ns);
      ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
      ip('link', 'set', peer, 'netns', name);
      ip('addr', 'add', `${ns.hostAddress}/30`, 'dev', host);
      ip('link', 'set', host, 'up');
      ip('-n', name, 'addr', 'add', `${ns.address}/30`, 'dev', peer);
      ip('-n', name, 'link', 'set', peer, 'up');
      ip('-n', name, 'link', 'set', 'lo', 'up');
    }
  } catch (error) {
    remove();
    throw error;
  }
  // Deleting a namespace deletes its end of each veth pair, and with it ours.
  return { namespaces, remove };
}
