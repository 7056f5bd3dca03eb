/**
 * A fixed-bucket latency histogram in microseconds that merges by addition: 10 µs buckets up to
 * 50 ms, then 1 ms buckets up to 10 s (anything above lands in the last bucket).
 */
const FINE_LIMIT_US = 50_000;
const FINE_STEP_US = 10;
const COARSE_STEP_US = 1000;
const FINE = FINE_LIMIT_US / FINE_STEP_US;
export const HISTOGRAM_BUCKETS = FINE + (10_000_000 - FINE_LIMIT_US) / COARSE_STEP_US;

export function createHistogram(): Uint32Array {
  return new Uint32Array(HISTOGRAM_BUCKETS);
}

export function record(histogram: Uint32Array, micros: number) {
  const v = micros < 0 ? 0 : micros;
  const index = v < FINE_LIMIT_US ? Math.floor(v / FINE_STEP_US) : Math.min(HISTOGRAM_BUCKETS - 1, FINE + Math.floor((v - FINE_LIMIT_US) / COARSE_STEP_US));
  histogram[index]!++;
}

/** Upper bound of a bucket, in µs. */
function upper(index: number) {
  return index < FINE ? (index + 1) * FINE_STEP_US : FINE_LIMIT_US + (index - FINE + 1) * COARSE_STEP_US;
}

/** Non-empty buckets as [index, count] pairs (compact for IPC). */
export function toPairs(histogram: Uint32Array): [number, number][] {
  const pairs: [number, number][] = [];
  histogram.forEach((n, i) => {
    if (n > 0) pairs.push([i, n]);
  });
  return pairs;
}

export function addPairs(histogram: Uint32Array, pairs: [number, number][]) {
  for (const [i, n] of pairs) histogram[i]! += n;
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** Percentiles (bucket upper bounds, so at most 10 µs high below 50 ms). */
export function summarize(histogram: Uint32Array): LatencySummary | undefined {
  let count = 0;
  for (const n of histogram) count += n;
  if (count === 0) return undefined;
  const at = (q: number) => {
    const rank = Math.ceil(q * count);
    let seen = 0;
    for (let i = 0; i < histogram.length; i++) {
      seen += histogram[i]!;
      if (seen >= rank) return upper(i) / 1000;
    }
    return upper(histogram.length - 1) / 1000;
  };
  let max = 0;
  for (let i = histogram.length - 1; i >= 0; i--) {
    if (histogram[i]! > 0) {
      max = upper(i) / 1000;
      break;
    }
  }
  return { count, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), p999Ms: at(0.999), maxMs: max };
}
