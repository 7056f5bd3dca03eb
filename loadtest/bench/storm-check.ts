import type { SequenceCheck } from './storm-messages.ts';

export interface ReceivedStream {
  name: string;
  /** Sequence numbers in the order they arrived. */
  received: number[];
  /** The position the client joined at: it must get every message after it. */
  after: number;
  /** Every sequence number of the room (sorted). */
  expected: number[];
}

/**
 * Compares what each client received with its room's messages: lost (expected after its join
 * position, never received), duplicates, out of order (a seq not above the one before it) and
 * unexpected (not a message of the room).
 */
export function checkSequence(streams: ReceivedStream[]): SequenceCheck {
  const check: SequenceCheck = { clients: streams.length, clientsWithLoss: 0, lost: 0, duplicates: 0, outOfOrder: 0, unexpected: 0, examples: [] };
  for (const s of streams) {
    const seen = new Set<number>();
    let duplicates = 0;
    let outOfOrder = 0;
    for (let i = 0; i < s.received.length; i++) {
      const seq = s.received[i]!;
      if (seen.has(seq)) duplicates++;
      else seen.add(seq);
      if (i > 0 && seq <= s.received[i - 1]!) outOfOrder++;
    }
    const roomSeqs = new Set(s.expected);
    let lost = 0;
    let firstLost: number | undefined;
    for (const seq of s.expected) {
      if (seq <= s.after || seen.has(seq)) continue;
      lost++;
      firstLost ??= seq;
    }
    let unexpected = 0;
    for (const seq of seen) if (!roomSeqs.has(seq)) unexpected++;
    check.lost += lost;
    check.duplicates += duplicates;
    check.outOfOrder += outOfOrder;
    check.unexpected += unexpected;
    if (lost > 0) check.clientsWithLoss++;
    if ((lost || duplicates || outOfOrder || unexpected) && check.examples.length < 5) {
      check.examples.push(`${s.name}: joined at ${s.after}, received ${s.received.length}, lost ${lost}${firstLost !== undefined ? ` (first ${firstLost})` : ''}, duplicates ${duplicates}, out of order ${outOfOrder}, unexpected ${unexpected}`);
    }
  }
  return check;
}

export function mergeChecks(checks: SequenceCheck[]): SequenceCheck {
  return checks.reduce(
    (a, b) => ({
      clients: a.clients + b.clients,
      clientsWithLoss: a.clientsWithLoss + b.clientsWithLoss,
      lost: a.lost + b.lost,
      duplicates: a.duplicates + b.duplicates,
      outOfOrder: a.outOfOrder + b.outOfOrder,
      unexpected: a.unexpected + b.unexpected,
      examples: [...a.examples, ...b.examples].slice(0, 5),
    }),
    { clients: 0, clientsWithLoss: 0, lost: 0, duplicates: 0, outOfOrder: 0, unexpected: 0, examples: [] },
  );
}

/** Nearest-rank percentile of unsorted values (undefined when empty). */
export function percentile(values: number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
