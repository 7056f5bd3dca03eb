import { randomUUID } from 'node:crypto';
import { freePort } from './ports.ts';
import { startNats, type NatsProcess } from './servers.ts';
import { natsRouteCount } from './nats-monitor.ts';

export interface NatsCluster {
  /** The servers, each with its monitoring endpoint. */
  readonly servers: NatsProcess[];
  /** Client URLs of every server, for a client that should fail over between them. */
  readonly urls: string[];
  /** The server a client is connected to, from the client's `getServer()` (`host:port`). */
  serverOf(hostPort: string): NatsProcess | undefined;
  /** The server with this `server_name` (as JetStream names a stream's leader), if it is one of these. */
  serverNamed(name: string): NatsProcess | undefined;
  /** Stops every server (and removes JetStream stores). */
  stop(): Promise<void>;
}

/**
 * `n` real `nats-server`s in one cluster named `parley`, routed to each other on loopback, each
 * with monitoring. Resolves once every server has a route to every other one, so interest on one
 * server is visible on the others.
 */
export async function startNatsCluster(n = 3, options: { jetstream?: boolean; timeoutMs?: number } = {}): Promise<NatsCluster> {
  const clusterPorts = await Promise.all(Array.from({ length: n }, () => freePort()));
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  // Names unique to this cluster: a server is recognised by its name when it starts (another test's could hold the port).
  const suffix = randomUUID().slice(0, 8);
  const names = clusterPorts.map((_, i) => `parley-${i}-${suffix}`);
  const started = await Promise.allSettled(
    clusterPorts.map((clusterPort, i) =>
      startNats({
        monitor: true,
        ...(options.jetstream && { jetstream: true }),
        args: ['--cluster_name', 'parley', '--cluster', `nats://127.0.0.1:${clusterPort}`, '--routes', routes, '--server_name', names[i]!],
      }),
    ),
  );
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async () => {
    await Promise.all(servers.map((s) => s.cleanup()));
  };
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const counts = await Promise.all(servers.map((s) => natsRouteCount(s.monitorUrl as string)));
    if (counts.every((c) => c >= n - 1)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`NATS cluster routes incomplete: ${counts.join(',')} (want ${n - 1} each)`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    servers,
    urls: servers.map((s) => s.url),
    serverOf: (hostPort) => servers.find((s) => hostPort.endsWith(`:${s.port}`)),
    serverNamed: (name) => {
      const index = names.indexOf(name);
      return index >= 0 ? servers[index] : undefined;
    },
    stop,
  };
}
