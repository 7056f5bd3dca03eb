// Room fan-out: many subscribers in large and small rooms, spread over every gateway, and
// publishers (ramped in stages) on other gateways than most members, so that nearly every
// delivery crosses NATS. Reports delivered messages/s and publish-to-delivery latency.
//
// Knobs (environment): DURATION (30s), SUBSCRIBERS (200), LARGE_ROOMS (2), LARGE_SHARE (0.6),
// SMALL_ROOM_SIZE (5), PUBLISHERS (20), PUBLISH_RATE per publisher per second (10, under the
// default tenant limit of 20/s), PAD_BYTES (0), P99_MS (250), ACK_P99_MS (250),
// MIN_DELIVERED_RATE (half the offered average).
import { sleep } from 'k6';
import exec from 'k6/execution';
import { clearInterval, setInterval, setTimeout } from 'k6/timers';
import { CORRECTNESS_THRESHOLDS, clusterFromEnv, connect, envNumber, mintTokens, payload, runSeconds, wsUrl } from './lib/parley.js';

const cluster = clusterFromEnv();
const DURATION_S = runSeconds(30);
const SUBSCRIBERS = envNumber('SUBSCRIBERS', 200);
const LARGE_ROOMS = envNumber('LARGE_ROOMS', 2);
const LARGE_SHARE = envNumber('LARGE_SHARE', 0.6);
const SMALL_ROOM_SIZE = envNumber('SMALL_ROOM_SIZE', 5);
const PUBLISHERS = envNumber('PUBLISHERS', 20);
const PUBLISH_RATE = envNumber('PUBLISH_RATE', 10);
const PAD_BYTES = envNumber('PAD_BYTES', 0);
/** Subscribers connect and join during this window before anyone publishes. */
const JOIN_S = Math.min(3, Math.max(1, DURATION_S * 0.15));
/** Subscribers stay this long after the last publish, to receive what is in flight. */
const TAIL_S = Math.min(2, Math.max(0.5, DURATION_S * 0.1));
const PUBLISH_WINDOW_S = DURATION_S - JOIN_S - TAIL_S;
if (PUBLISH_WINDOW_S < 1) throw new Error(`DURATION ${DURATION_S}s is too short for this scenario (at least 5s)`);

const largeMembers = Math.round(SUBSCRIBERS * LARGE_SHARE);
const smallRooms = Math.ceil((SUBSCRIBERS - largeMembers) / SMALL_ROOM_SIZE);

function subscriberRoom(i) {
  if (i < largeMembers) return `large-${i % LARGE_ROOMS}`;
  return `small-${Math.floor((i - largeMembers) / SMALL_ROOM_SIZE)}`;
}
/** Half of the publishers feed the large rooms, half the small ones. */
function publisherRoom(j) {
  if (j % 2 === 0 || smallRooms === 0) return `large-${(j >> 1) % LARGE_ROOMS}`;
  return `small-${(j >> 1) % smallRooms}`;
}
function roomSize(room) {
  let n = 0;
  for (let i = 0; i < SUBSCRIBERS; i++) if (subscriberRoom(i) === room) n++;
  return n;
}
// Offered deliveries per second with every publisher on, and averaged over the ramped stages.
let fullRate = 0;
for (let j = 0; j < PUBLISHERS; j++) fullRate += roomSize(publisherRoom(j)) * PUBLISH_RATE;
const averageOffered = (fullRate * 0.75 * PUBLISH_WINDOW_S) / DURATION_S;
const P99_MS = envNumber('P99_MS', 250);
const ACK_P99_MS = envNumber('ACK_P99_MS', 250);
const MIN_DELIVERED_RATE = envNumber('MIN_DELIVERED_RATE', Math.floor(averageOffered * 0.5));

/** Each publisher session lasts this long, so that the stages change the publishing rate. */
const PUBLISHER_SESSION_MS = 5000;
const stage = (fraction) => `${Math.max(1, Math.round(PUBLISH_WINDOW_S * fraction * 1000))}ms`;

export const options = {
  scenarios: {
    subscribers: {
      executor: 'per-vu-iterations',
      exec: 'subscriber',
      vus: SUBSCRIBERS,
      iterations: 1,
      maxDuration: `${Math.ceil(DURATION_S + 30)}s`,
    },
    publishers: {
      executor: 'ramping-vus',
      exec: 'publisher',
      startTime: `${Math.round(JOIN_S * 1000)}ms`,
      startVUs: 0,
      stages: [
        { duration: stage(0.25), target: PUBLISHERS },
        { duration: stage(0.5), target: PUBLISHERS },
        { duration: stage(0.25), target: 0 },
      ],
      // Longer than a publisher session, so that ramping down never interrupts one.
      gracefulRampDown: `${PUBLISHER_SESSION_MS / 1000 + 2}s`,
      gracefulStop: `${PUBLISHER_SESSION_MS / 1000 + 2}s`,
    },
  },
  thresholds: {
    ...CORRECTNESS_THRESHOLDS,
    parley_delivery_latency: [`p(99)<${P99_MS}`],
    parley_ack_time: [`p(99)<${ACK_P99_MS}`],
    parley_delivered: [`rate>=${MIN_DELIVERED_RATE}`],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
  setupTimeout: '120s',
};

export function setup() {
  const subscribers = Array.from({ length: SUBSCRIBERS }, (_, i) => `fanout-sub-${i}`);
  const publishers = Array.from({ length: PUBLISHERS }, (_, j) => `fanout-pub-${j}`);
  const tokens = {
    ...mintTokens(cluster, subscribers, { 'large-*': ['subscribe'], 'small-*': ['subscribe'] }),
    ...mintTokens(cluster, publishers, { 'large-*': ['publish'], 'small-*': ['publish'] }),
  };
  console.log(`fan-out: ${SUBSCRIBERS} subscribers (${LARGE_ROOMS} large rooms of ~${Math.round(largeMembers / LARGE_ROOMS)}, ${smallRooms} small of ${SMALL_ROOM_SIZE}), ${PUBLISHERS} publishers × ${PUBLISH_RATE}/s, offered ≤ ${fullRate} deliveries/s`);
  return { tokens, t0: Date.now() };
}

export function subscriber(data) {
  const i = exec.scenario.iterationInTest;
  const room = subscriberRoom(i);
  const conn = connect(wsUrl(cluster.gateways[i % cluster.gateways.length]), data.tokens[`fanout-sub-${i}`], {
    onWelcome: (c) => c.request({ type: 'join', room }),
  });
  setTimeout(() => conn.close(), Math.max(0, data.t0 + DURATION_S * 1000 - Date.now()));
}

export function publisher(data) {
  const n = exec.scenario.iterationInTest;
  const j = n % PUBLISHERS;
  const room = publisherRoom(j);
  const stopAt = data.t0 + (DURATION_S - TAIL_S) * 1000;
  if (Date.now() >= stopAt - 200) {
    sleep(0.2);
    return;
  }
  const id = `p${n}`;
  let seq = 0;
  let timer;
  const conn = connect(wsUrl(cluster.gateways[(j + 1) % cluster.gateways.length]), data.tokens[`fanout-pub-${j}`], {
    onWelcome: (c) => {
      timer = setInterval(() => {
        if (Date.now() >= stopAt) {
          clearInterval(timer);
          setTimeout(() => c.close(), 300);
          return;
        }
        c.request({ type: 'publish', room, data: payload(id, seq++, PAD_BYTES) });
      }, 1000 / PUBLISH_RATE);
    },
    onClose: () => clearInterval(timer),
  });
  setTimeout(() => {
    clearInterval(timer);
    setTimeout(() => conn.close(), 300);
  }, Math.min(PUBLISHER_SESSION_MS, stopAt - Date.now()));
}
