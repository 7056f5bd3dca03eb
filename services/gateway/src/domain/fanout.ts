/**
 * Fan-out to this gateway's sockets subscribed to a topic (`ClientSocket.subscribe`): the port
 * each transport implements (uWebSockets.js topics for WebSockets, a map for SSE streams).
 */
export interface Fanout {
  /** `binary`: the data is a binary frame (docs/protocol.md, "Binary frames"), not JSON text. */
  publish(topic: string, data: Uint8Array, binary?: boolean): void;
}

/** One fan-out over several transports' (in the order given). */
export function combineFanouts(fanouts: Fanout[]): Fanout {
  if (fanouts.length === 1) return fanouts[0]!;
  const [first, second] = fanouts as [Fanout, Fanout];
  if (fanouts.length === 2) return { publish: (topic, data, binary) => (first.publish(topic, data, binary), second.publish(topic, data, binary)) };
  return { publish: (topic, data, binary) => fanouts.forEach((f) => f.publish(topic, data, binary)) };
}
