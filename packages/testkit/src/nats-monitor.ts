/**
 * Reads a real `nats-server`'s monitoring endpoint (`startNats({ monitor: true })`), the server's
 * own view of who holds which subscription. The server sees a client's SUB/UNSUB only once it has
 * read them: flush the client first (`bus.raw.flush()`) or poll with `waitForNatsSubscriptions`.
 */

interface ConnzConnection {
  name?: string;
  num_subscriptions?: number;
  subscriptions_list?: string[];
}

async function fetchJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return (await response.json()) as T;
}

/** The subjects subscribed by every connection named `connectionName` on this server. */
export async function natsSubscriptions(monitorUrl: string, connectionName: string): Promise<string[]> {
  const connz = await fetchJson<{ connections?: ConnzConnection[] }>(`${monitorUrl}/connz?subs=1&limit=10000`);
  return (connz.connections ?? []).filter((c) => c.name === connectionName).flatMap((c) => c.subscriptions_list ?? []);
}

/** How many subscriptions connections named `connectionName` hold on this server. */
export async function natsSubscriptionCount(monitorUrl: string, connectionName: string): Promise<number> {
  return (await natsSubscriptions(monitorUrl, connectionName)).length;
}

/**
 * Polls until `predicate(subjects)` holds for `connectionName`, and returns the subjects; throws
 * with the last seen list after `timeoutMs`.
 */
export async function waitForNatsSubscriptions(
  monitorUrl: string,
  connectionName: string,
  predicate: (subjects: string[]) => boolean,
  timeoutMs = 5_000,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const subjects = await natsSubscriptions(monitorUrl, connectionName);
    if (predicate(subjects)) return subjects;
    if (Date.now() > deadline) throw new Error(`subscriptions of ${connectionName} still ${JSON.stringify(subjects)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Number of other servers of its cluster this server has a route to. Not `num_routes`: NATS 2.10
 * pools routes (3 connections per peer by default), so that counts connections, and one peer's
 * pool alone would look like a complete cluster of three.
 */
export async function natsRouteCount(monitorUrl: string): Promise<number> {
  const routez = await fetchJson<{ routes?: Array<{ remote_id?: string }> }>(`${monitorUrl}/routez`);
  return new Set((routez.routes ?? []).map((route) => route.remote_id)).size;
}
