/** Counters read from one gateway's `/metrics`. */
export interface GatewaySample {
  cpuSeconds: number;
  rssBytes: number;
  /** Bus messages fanned out (once per message per gateway, whatever the number of recipients). */
  busDeliveries: number;
  /** Client messages accepted and published. */
  published: number;
  /** Cumulative buckets of `parley_gateway_delivery_latency_seconds` (publish → fan-out here): upper bound (s) → count. */
  latencyBuckets: Map<number, number>;
}

/** Sums of a metric's samples over all label sets; 0 when absent. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

const BUCKET = /^parley_gateway_delivery_latency_seconds_bucket\{(?:[^}]*,)?le="([^"]+)"[^}]*\} (\S+)$/;

function latencyBuckets(text: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    const match = BUCKET.exec(line);
    if (!match) continue;
    const le = match[1] === '+Inf' ? Infinity : Number(match[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(match[2]));
  }
  return buckets;
}

/**
 * The q-quantile (0..1) of the observations between two cumulative histograms, interpolated
 * linearly inside its bucket as Prometheus' histogram_quantile does; undefined without data.
 */
export function histogramQuantile(q: number, before: Map<number, number>, after: Map<number, number>): number | undefined {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const upper = bounds[i]!;
    const count = counts[i]!;
    if (count >= rank) {
      if (upper === Infinity) return lower;
      return lower + ((upper - lower) * (rank - below)) / Math.max(1, count - below);
    }
    lower = upper;
    below = count;
  }
  return lower;
}

export async function sampleGateway(url: string): Promise<GatewaySample> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}/metrics answered ${res.status}`);
  const text = await res.text();
  return {
    cpuSeconds: metricSum(text, 'parley_process_cpu_seconds_total'),
    rssBytes: metricSum(text, 'parley_process_resident_memory_bytes'),
    busDeliveries: metricSum(text, 'parley_gateway_bus_deliveries_total'),
    published: metricSum(text, 'parley_gateway_messages_published_total'),
    latencyBuckets: latencyBuckets(text),
  };
}

export function sampleGateways(urls: string[]): Promise<GatewaySample[]> {
  return Promise.all(urls.map(sampleGateway));
}

/** Gateway CPU spent between two samples, summed over gateways. */
export interface GatewayUsage {
  cpuSeconds: number;
  published: number;
  busDeliveries: number;
  /** Largest RSS seen at the end, in MiB. */
  maxRssMiB: number;
  /** Server-side publish → fan-out latency over all gateways, from their histograms (ms). */
  serverLatencyP50Ms: number | undefined;
  serverLatencyP99Ms: number | undefined;
}

export function usageBetween(before: GatewaySample[], after: GatewaySample[]): GatewayUsage {
  let cpuSeconds = 0;
  let published = 0;
  let busDeliveries = 0;
  let maxRss = 0;
  after.forEach((a, i) => {
    const b = before[i];
    if (!b) return;
    cpuSeconds += a.cpuSeconds - b.cpuSeconds;
    published += a.published - b.published;
    busDeliveries += a.busDeliveries - b.busDeliveries;
    maxRss = Math.max(maxRss, a.rssBytes);
  });
  const merge = (samples: GatewaySample[]) => {
    const merged = new Map<number, number>();
    for (const sample of samples) for (const [le, n] of sample.latencyBuckets) merged.set(le, (merged.get(le) ?? 0) + n);
    return merged;
  };
  const [mergedBefore, mergedAfter] = [merge(before), merge(after)];
  const toMs = (v: number | undefined) => (v === undefined ? undefined : v * 1000);
  return {
    cpuSeconds,
    published,
    busDeliveries,
    maxRssMiB: maxRss / 1024 / 1024,
    serverLatencyP50Ms: toMs(histogramQuantile(0.5, mergedBefore, mergedAfter)),
    serverLatencyP99Ms: toMs(histogramQuantile(0.99, mergedBefore, mergedAfter)),
  };
}
