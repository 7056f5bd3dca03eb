// Chat mix: users (ramped in stages) in many small rooms, each in two rooms, chatting, asking
// who is online, and sending direct messages to other users (also across gateways). Sessions
// end and start again, so joins, leaves and presence events keep flowing.
//
// Knobs (environment): DURATION (30s), USERS (150), ROOM_SIZE (6), SESSION_S (10), CHAT_MS
// (2000), PRESENCE_MS (4000), DIRECT_MS (3000), P99_MS (250), PRESENCE_P95_MS (250).
import exec from 'k6/execution';
import { clearInterval, setInterval, setTimeout } from 'k6/timers';
import { CORRECTNESS_THRESHOLDS, clusterFromEnv, connect, envNumber, mintTokens, stageDuration, payload, runSeconds, wsUrl } from './lib/parley.js';

const cluster = clusterFromEnv();
const DURATION_S = runSeconds(30);
const USERS = envNumber('USERS', 150);
const ROOM_SIZE = envNumber('ROOM_SIZE', 6);
const SESSION_S = envNumber('SESSION_S', 10);
const CHAT_MS = envNumber('CHAT_MS', 2000);
const PRESENCE_MS = envNumber('PRESENCE_MS', 4000);
const DIRECT_MS = envNumber('DIRECT_MS', 3000);
const P99_MS = envNumber('P99_MS', 250);
const PRESENCE_P95_MS = envNumber('PRESENCE_P95_MS', 250);
const ROOMS = Math.max(1, Math.ceil(USERS / ROOM_SIZE));

export const options = {
  scenarios: {
    chat: {
      executor: 'ramping-vus',
      exec: 'chat',
      startVUs: 0,
      stages: [
        { duration: stageDuration(DURATION_S * 0.2), target: USERS },
        { duration: stageDuration(DURATION_S * 0.6), target: USERS },
        { duration: stageDuration(DURATION_S * 0.2), target: 0 },
      ],
      gracefulRampDown: `${SESSION_S + 2}s`,
      gracefulStop: `${SESSION_S + 2}s`,
    },
  },
  thresholds: {
    ...CORRECTNESS_THRESHOLDS,
    parley_delivery_latency: [`p(99)<${P99_MS}`],
    parley_presence_time: [`p(95)<${PRESENCE_P95_MS}`],
    'parley_delivered{kind:direct}': ['count>0'],
    'parley_delivered{kind:message}': ['count>0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
  setupTimeout: '120s',
};

export function setup() {
  const users = Array.from({ length: USERS }, (_, i) => `chat-${i}`);
  console.log(`chat mix: ${USERS} users in ${ROOMS} rooms of ~${ROOM_SIZE} (two rooms each), sessions of ${SESSION_S}s`);
  return { tokens: mintTokens(cluster, users, { 'chat-*': ['subscribe', 'publish', 'presence'] }) };
}

export function chat(data) {
  const i = (exec.vu.idInTest - 1) % USERS;
  const rooms = [`chat-${i % ROOMS}`, `chat-${(i + Math.floor(ROOMS / 2) + 1) % ROOMS}`];
  const peer = `chat-${(i + 1) % USERS}`;
  // Unique per session (VU ids are global, so two VUs may map to the same user `i`).
  const id = `v${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  const timers = [];
  const seqs = [0, 0];
  let turn = 0;
  let dseq = 0;
  const jitter = (period) => period * (0.75 + Math.random() * 0.5);
  const conn = connect(wsUrl(cluster.gateways[i % cluster.gateways.length]), data.tokens[`chat-${i}`], {
    onWelcome: (c) => {
      for (const room of rooms) c.request({ type: 'join', room });
      timers.push(
        setInterval(() => {
          const k = turn++ % 2;
          c.request({ type: 'publish', room: rooms[k], data: payload(id, seqs[k]++) });
        }, jitter(CHAT_MS)),
      );
      timers.push(setInterval(() => c.request({ type: 'presence', room: rooms[0] }), jitter(PRESENCE_MS)));
      timers.push(setInterval(() => c.request({ type: 'direct', to: peer, data: payload(id, dseq++) }), jitter(DIRECT_MS)));
    },
    onClose: () => timers.forEach((t) => clearInterval(t)),
  });
  setTimeout(() => {
    timers.forEach((t) => clearInterval(t));
    setTimeout(() => conn.close(), 500);
  }, jitter(SESSION_S * 1000));
}
