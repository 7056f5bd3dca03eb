import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_FRAME_TYPES, CLOSE_CODES, ERRORS, MODERATION_EVENT_TYPES, type ErrorCode } from '@parley/protocol';
import { connectClient, type TestClient, type TestClientFrame } from '@parley/testkit';
import { connectUser, mintUserToken, startCluster, wsUrl, type Cluster } from '../src/index.ts';
import { createTenant } from './support.ts';

/**
 * WebSocket frame fuzzing in CI, bounded in time, against a live gateway process: every frame,
 * well-formed or not, gets a documented answer (a documented frame type; errors with a registered
 * code and its `temporary`) or a documented close, the gateway stays up, and another tenant's
 * client keeps getting its `pong` promptly. A failure prints fast-check's seed and the shrunk
 * frame; `FUZZ_SEED=<seed>` replays it.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const TIME_LIMIT_MS = 25_000;
const SERVER_FRAME_TYPES = new Set<string>(['welcome', 'joined', 'ack', 'message', 'direct', 'presence', 'presence.join', 'presence.leave', 'history', 'error', 'reconnect', 'pong', 'settings', ...MODERATION_EVENT_TYPES]);
/** Documented closes: Parley's codes, and the transport's for frames that are not valid UTF-8 text or too large (docs/protocol.md). */
const CLOSES = new Set<number>([...Object.values(CLOSE_CODES), 1006, 1007, 1009]);

let cluster: Cluster;
let fuzzKey: string;
let validToken: string;

beforeAll(async () => {
  cluster = await startCluster({ gateways: 1, jetstream: true, env: { PARLEY_LOG_LEVEL: 'warn', PARLEY_DRAIN_MS: '0' } });
  // High message limits, so that most frames reach their handler instead of the rate limit.
  fuzzKey = await createTenant(cluster, 'fuzz', { messagesPerSecond: 10_000, burst: 100_000, history: { enabled: true } });
  validToken = await mintUserToken(cluster, 'fuzzer', { apiKey: fuzzKey });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

const text = fc.oneof(fc.constantFrom('lobby', 'a.b', '*', '>', 'fuzz', '', 'x'.repeat(200), 'game-1', 'équipe'), fc.string({ maxLength: 40 }), fc.string({ maxLength: 20, unit: 'binary' }));
const anyValue = fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 3 }));

/** Frames as a hostile client would write them: mostly shaped like protocol frames, with wrong fields. */
const structured = fc
  .record(
    {
      type: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...CLIENT_FRAME_TYPES) }, { weight: 1, arbitrary: anyValue }),
      id: fc.oneof(fc.string({ maxLength: 80 }), fc.integer(), fc.double(), fc.jsonValue({ maxDepth: 2 })),
      room: anyValue,
      to: anyValue,
      data: fc.jsonValue({ maxDepth: 5 }),
      token: fc.oneof(fc.constant('VALID'), fc.constant('FORGED'), text),
      since: anyValue,
      after: anyValue,
      limit: anyValue,
    },
    { requiredKeys: [] },
  )
  .map((frame) => {
    const token = frame.token === 'VALID' ? validToken : frame.token === 'FORGED' ? `${validToken.slice(0, -6)}AAAAAA` : frame.token;
    return JSON.stringify({ ...frame, ...(frame.token !== undefined && { token }) });
  });

type Raw = { kind: 'text'; data: string } | { kind: 'binary'; data: Uint8Array } | { kind: 'bytes-as-text'; data: Uint8Array };
const frames: fc.Arbitrary<Raw> = fc.oneof(
  { weight: 8, arbitrary: structured.map((data) => ({ kind: 'text' as const, data })) },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }).map((data) => ({ kind: 'text' as const, data })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 8_000 }).map((d) => ({ kind: 'text' as const, data: `{"type":"publish","room":"lobby","data":${'['.repeat(d)}${']'.repeat(d)}}` })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((data) => ({ kind: 'binary' as const, data })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 32 }).map((data) => ({ kind: 'bytes-as-text' as const, data })) },
);

function checkFrame(frame: TestClientFrame): string | undefined {
  if (typeof frame.type !== 'string' || !SERVER_FRAME_TYPES.has(frame.type)) return `undocumented frame type ${JSON.stringify(frame.type)}`;
  if (frame.type !== 'error') return undefined;
  const code = frame.code as ErrorCode;
  if (!(code in ERRORS)) return `unregistered error code ${JSON.stringify(frame.code)}`;
  if (code === 'internal') return `internal error: ${JSON.stringify(frame)}`;
  if (frame.temporary !== ERRORS[code].temporary || typeof frame.message !== 'string') return `malformed error ${JSON.stringify(frame)}`;
  return undefined;
}

describe('WebSocket frame fuzzing', () => {
  it('ws fuzz - every frame gets a documented answer or close, the gateway stays up, another tenant keeps its latency', async () => {
    const gateway = cluster.gateways[0]!;
    const bystander = await connectUser(gateway, await mintUserToken(cluster, 'calm'), ['lobby']);
    let worstPongMs = 0;
    let stop = false;
    const pinging = (async () => {
      while (!stop) {
        const sent = Date.now();
        await bystander.request({ type: 'ping' }, 10_000);
        worstPongMs = Math.max(worstPongMs, Date.now() - sent);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    let client: TestClient | undefined;
    let probes = 0;
    try {
      await fc.assert(
        fc.asyncProperty(frames, async (raw) => {
          if (!client || client.isClosed) {
            client = await connectClient(wsUrl(gateway), { token: validToken });
            await client.waitFor('welcome');
          }
          const c = client;
          const from = c.received.length;
          if (raw.kind === 'text') c.sendRaw(raw.data);
          else c.sendRaw(Buffer.from(raw.data), raw.kind === 'binary');
          const probe = `probe-${++probes}`;
          if (!c.isClosed) c.send({ type: 'ping', id: probe });
          await c.waitFor((f) => f.type === 'pong' && f.id === probe, 10_000).catch((error: unknown) => {
            if (!c.isClosed) throw error;
          });
          for (const frame of c.received.slice(from)) {
            const problem = checkFrame(frame);
            if (problem) throw new Error(`${problem} after ${JSON.stringify(raw).slice(0, 300)}`);
          }
          if (c.isClosed) {
            const { code } = await c.closed;
            if (!CLOSES.has(code)) throw new Error(`undocumented close ${code} after ${JSON.stringify(raw).slice(0, 300)}`);
          }
        }),
        { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, ...(process.env.FUZZ_SEED && { seed: Number(process.env.FUZZ_SEED) }) },
      );
    } finally {
      stop = true;
      await pinging;
      await client?.close();
    }
    expect(probes).toBeGreaterThan(50);
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    expect((await bystander.request({ type: 'ping' })).type).toBe('pong');
    await bystander.close();
    // Bounded, not a benchmark: a frame that stalls the gateway shows as seconds here.
    expect(worstPongMs).toBeLessThan(2_000);
  }, 90_000);
});
