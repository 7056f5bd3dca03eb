// Soak: a steady, moderate chat load held for a long time (default 10 minutes), with sessions
// that end and reconnect, every user also in one shared room, and a monitor that samples each
// gateway's resident memory from /metrics. Fails on latency drift, any drop or loss, and on
// memory that keeps growing (a leak per connection or per message).
//
// Knobs (environment): DURATION (10m), USERS (100), ROOM_SIZE (8), SESSION_S (60), CHAT_MS
// (3000), SHARED_ROOM_RATE (5 messages/s into the shared room), P99_MS (250),
// RSS_GROWTH_MB (64: allowed growth of a gateway's RSS over its first sample).
import http from 'k6/http';
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';
import { sleep } from 'k6';
import { clearInterval, setInterval, setTimeout } from 'k6/timers';
import { CORRECTNESS_THRESHOLDS, clusterFromEnv, connect, envNumber, mintTokens, stageDuration, payload, runSeconds, wsUrl } from './lib/parley.js';

const cluster = clusterFromEnv();
const DURATION_S = runSeconds(600);
const USERS = envNumber('USERS', 100);
const ROOM_SIZE = envNumber('ROOM_SIZE', 8);
const SESSION_S = Math.min(envNumber('SESSION_S', 60), Math.max(2, DURATION_S / 3));
const CHAT_MS = envNumber('CHAT_MS', 3000);
const SHARED_ROOM_RATE = envNumber('SHARED_ROOM_RATE', 5);
const P99_MS = envNumber('P99_MS', 250);
const RSS_GROWTH_MB = envNumber('RSS_GROWTH_MB', 64);
const ROOMS = Math.max(1, Math.ceil(USERS / ROOM_SIZE));
const ANNOUNCER_START_S = Math.min(5, DURATION_S * 0.1);
const ANNOUNCER_DURATION_S = DURATION_S * 0.85;

const rssMb = new Trend('parley_gateway_rss_mb');
const rssGrowthMb = new Trend('parley_gateway_rss_growth_mb');

export const options = {
  scenarios: {
    users: {
      executor: 'ramping-vus',
      exec: 'user',
      startVUs: 0,
      stages: [
        { duration: stageDuration(DURATION_S * 0.1), target: USERS },
        { duration: stageDuration(DURATION_S * 0.85), target: USERS },
        { duration: stageDuration(DURATION_S * 0.05), target: 0 },
      ],
      gracefulRampDown: `${Math.ceil(SESSION_S) + 2}s`,
      gracefulStop: `${Math.ceil(SESSION_S) + 2}s`,
    },
    announcer: {
      executor: 'constant-vus',
      exec: 'announcer',
      vus: 1,
      startTime: stageDuration(ANNOUNCER_START_S),
      duration: stageDuration(ANNOUNCER_DURATION_S),
      gracefulStop: '3s',
    },
    monitor: {
      executor: 'constant-vus',
      exec: 'monitor',
      vus: 1,
      duration: stageDuration(DURATION_S),
      gracefulStop: '6s',
    },
  },
  thresholds: {
    ...CORRECTNESS_THRESHOLDS,
    parley_delivery_latency: [`p(99)<${P99_MS}`],
    parley_gateway_rss_growth_mb: [`max<${RSS_GROWTH_MB}`],
    'parley_delivered{kind:message}': ['count>0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
  setupTimeout: '120s',
};

export function setup() {
  const users = Array.from({ length: USERS }, (_, i) => `soak-${i}`);
  console.log(`soak: ${USERS} users for ${DURATION_S}s, sessions of ${SESSION_S}s, ${SHARED_ROOM_RATE}/s into the shared room`);
  return {
    t0: Date.now(),
    tokens: {
      ...mintTokens(cluster, users, { 'soak-*': ['subscribe', 'publish', 'presence'] }),
      ...mintTokens(cluster, ['soak-announcer'], { 'soak-*': ['publish'] }),
    },
  };
}

export function user(data) {
  const i = (exec.vu.idInTest - 1) % USERS;
  const room = `soak-${i % ROOMS}`;
  // Unique per session (VU ids are global, so two VUs may map to the same user `i`).
  const id = `v${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  let seq = 0;
  let timer;
  const conn = connect(wsUrl(cluster.gateways[i % cluster.gateways.length]), data.tokens[`soak-${i}`], {
    onWelcome: (c) => {
      c.request({ type: 'join', room });
      c.request({ type: 'join', room: 'soak-shared' });
      timer = setInterval(() => c.request({ type: 'publish', room, data: payload(id, seq++) }), CHAT_MS * (0.75 + Math.random() * 0.5));
    },
    onClose: () => clearInterval(timer),
  });
  setTimeout(() => {
    clearInterval(timer);
    setTimeout(() => conn.close(), 500);
  }, SESSION_S * 1000 * (0.75 + Math.random() * 0.5));
}

export function announcer(data) {
  const scenarioEnd = data.t0 + (ANNOUNCER_START_S + ANNOUNCER_DURATION_S) * 1000;
  if (scenarioEnd - Date.now() < 3000) {
    sleep(Math.max(0, (scenarioEnd - Date.now()) / 1000));
    return;
  }
  const id = `a${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  let seq = 0;
  let timer;
  const conn = connect(wsUrl(cluster.gateways[cluster.gateways.length - 1]), data.tokens['soak-announcer'], {
    onWelcome: (c) => {
      timer = setInterval(() => c.request({ type: 'publish', room: 'soak-shared', data: payload(id, seq++) }), 1000 / SHARED_ROOM_RATE);
    },
    onClose: () => clearInterval(timer),
  });
  // Sessions end before the scenario does, so that k6 never has to interrupt one.
  setTimeout(() => {
    clearInterval(timer);
    setTimeout(() => conn.close(), 300);
  }, Math.max(0, Math.min(Math.min(30, DURATION_S / 4) * 1000, scenarioEnd - Date.now() - 1000)));
}

const firstRss = {};
export function monitor() {
  for (const gateway of cluster.gateways) {
    const res = http.get(`${gateway}/metrics`, { tags: { name: 'GET /metrics' } });
    const match = /^parley_process_resident_memory_bytes\{[^}]*\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(String(res.body));
    if (!match) continue;
    const mb = Number(match[1]) / 1024 / 1024;
    if (firstRss[gateway] === undefined) firstRss[gateway] = mb;
    rssMb.add(mb, { gateway });
    rssGrowthMb.add(mb - firstRss[gateway], { gateway });
  }
  sleep(Math.min(10, Math.max(1, DURATION_S / 20)));
}
