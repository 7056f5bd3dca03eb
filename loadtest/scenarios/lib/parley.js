// Shared helpers of the k6 scenarios: configuration from the environment, token minting through
// the real auth API, a Parley connection that measures itself, and the custom metrics.
//
// Environment (set by `npm run loadtest`, or by hand):
//   PARLEY_GATEWAYS  comma-separated gateway base URLs (http://host:port); ws URLs are derived
//   PARLEY_AUTH_URL  the auth service base URL
//   PARLEY_API_KEY   a tenant API key (the demo tenant's); never logged
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';
import { WebSocket } from 'k6/websockets';

/** The cluster under test, from the environment. */
export function clusterFromEnv() {
  const gateways = (__ENV.PARLEY_GATEWAYS || '').split(',').map((s) => s.trim()).filter(Boolean);
  const auth = __ENV.PARLEY_AUTH_URL;
  const apiKey = __ENV.PARLEY_API_KEY;
  if (gateways.length === 0 || !auth || !apiKey) {
    throw new Error('set PARLEY_GATEWAYS, PARLEY_AUTH_URL and PARLEY_API_KEY (npm run loadtest does)');
  }
  return { gateways, auth, apiKey };
}

/** A number from the environment, or the default. */
/** A k6 duration string for `seconds` (at least 1 ms): stage lengths computed from DURATION. */
export function stageDuration(seconds) {
  return `${Math.max(1, Math.round(seconds * 1000))}ms`;
}

export function envNumber(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, not "${raw}"`);
  return value;
}

/** Seconds from a k6-style duration ("90s", "2m", "1m30s", "45"). */
export function durationSeconds(text) {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let match;
  let consumed = '';
  while ((match = re.exec(text)) !== null) {
    const n = Number(match[1]);
    total += match[2] === 'h' ? n * 3600 : match[2] === 'm' ? n * 60 : match[2] === 's' ? n : n / 1000;
    consumed += match[0];
  }
  if (consumed !== text) throw new Error(`"${text}" is not a duration like 30s, 2m or 1m30s`);
  return total;
}

/** The run's duration in seconds: DURATION from the environment, or the scenario's default. */
export function runSeconds(fallback) {
  return __ENV.DURATION ? durationSeconds(__ENV.DURATION) : fallback;
}

export const metrics = {
  /** Room messages and direct messages received by clients. */
  delivered: new Counter('parley_delivered'),
  /** Publish-to-delivery latency, from the sender's timestamp in the payload (ms). */
  latency: new Trend('parley_delivery_latency', true),
  /** Room messages and direct messages acknowledged by the gateway. */
  published: new Counter('parley_published'),
  /** publish/direct sent → ack received (ms). */
  ackTime: new Trend('parley_ack_time', true),
  /** new WebSocket → `welcome` received (ms). */
  connectTime: new Trend('parley_connect_time', true),
  /** `join` sent → `joined` received (ms). */
  joinTime: new Trend('parley_join_time', true),
  /** `presence` sent → `presence` received (ms). */
  presenceTime: new Trend('parley_presence_time', true),
  /** Sockets that failed to open, or closed before `welcome`. */
  connectErrors: new Counter('parley_connect_errors'),
  /** Sockets closed by the server or the network while the client still wanted them. */
  drops: new Counter('parley_drops'),
  /** Of the drops, those closed with 4002 (slow consumer): the accounted way to lose messages. */
  slowConsumerCloses: new Counter('parley_slow_consumer_closes'),
  /** Messages missing in a publisher's sequence as seen by a subscriber (silent loss). */
  lost: new Counter('parley_lost'),
  /** `error` frames received (tagged by code). */
  errorFrames: new Counter('parley_error_frames'),
  presenceEvents: new Counter('parley_presence_events'),
};

/** Thresholds every scenario shares: no connection errors, drops, losses or error frames. */
export const CORRECTNESS_THRESHOLDS = {
  parley_connect_errors: ['count==0'],
  parley_drops: ['count==0'],
  parley_lost: ['count==0'],
  parley_error_frames: ['count==0'],
};

/**
 * Mints one token per user through `POST /v1/tokens` (batched), as a tenant backend would.
 * Returns `{ [user]: token }`. Fails the setup when auth refuses.
 */
export function mintTokens(cluster, users, grants, ttlSeconds = 3600) {
  const tokens = {};
  const headers = { Authorization: `Bearer ${cluster.apiKey}`, 'Content-Type': 'application/json' };
  for (let start = 0; start < users.length; start += 50) {
    const chunk = users.slice(start, start + 50);
    const responses = http.batch(
      chunk.map((user) => ({
        method: 'POST',
        url: `${cluster.auth}/v1/tokens`,
        body: JSON.stringify({ user, grants, ttlSeconds }),
        params: { headers, tags: { name: 'POST /v1/tokens' } },
      })),
    );
    responses.forEach((res, i) => {
      if (res.status !== 200) throw new Error(`POST /v1/tokens for ${chunk[i]} answered ${res.status}: ${String(res.body).slice(0, 200)}`);
      tokens[chunk[i]] = res.json('token');
    });
  }
  return tokens;
}

export function wsUrl(httpUrl) {
  return `${httpUrl.replace(/^http/, 'ws')}/v1/ws`;
}

/** A payload whose `t` lets receivers measure latency and whose (`p`, `s`) reveals gaps. */
export function payload(publisher, seq, padBytes = 0) {
  return padBytes > 0 ? { t: Date.now(), p: publisher, s: seq, pad: 'x'.repeat(padBytes) } : { t: Date.now(), p: publisher, s: seq };
}

/**
 * One Parley connection that records the metrics above. `handlers.onWelcome(conn)` runs once the
 * session is authenticated; `handlers.onFrame(frame, conn)` sees every frame. Requests sent with
 * `conn.request(frame)` get an id, and the reply time is recorded by type. `conn.close()` marks the
 * close as wanted; any other close counts as a drop.
 */
export function connect(url, token, handlers = {}) {
  const started = Date.now();
  const pending = new Map();
  const lastSeq = new Map();
  let nextId = 1;
  let welcomed = false;
  let closing = false;
  const ws = new WebSocket(url, ['parley.v1', `parley.token.${token}`]);
  const conn = {
    ws,
    get open() {
      return welcomed && !closing;
    },
    request(frame) {
      if (closing) return;
      const id = nextId++;
      pending.set(id, { type: frame.type, at: Date.now() });
      ws.send(JSON.stringify({ ...frame, id }));
    },
    close() {
      if (closing) return;
      closing = true;
      ws.close();
    },
  };

  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    const now = Date.now();
    if (frame.id !== undefined) {
      const req = pending.get(frame.id);
      if (req) {
        pending.delete(frame.id);
        if (frame.type === 'joined') metrics.joinTime.add(now - req.at);
        else if (frame.type === 'presence') metrics.presenceTime.add(now - req.at);
        else if (frame.type === 'ack' && (req.type === 'publish' || req.type === 'direct')) {
          metrics.ackTime.add(now - req.at);
          metrics.published.add(1, { kind: req.type });
        }
      }
    }
    switch (frame.type) {
      case 'welcome':
        welcomed = true;
        metrics.connectTime.add(now - started);
        if (handlers.onWelcome) handlers.onWelcome(conn);
        break;
      case 'message':
      case 'direct': {
        metrics.delivered.add(1, { kind: frame.type });
        const data = frame.data;
        if (data && typeof data.t === 'number') metrics.latency.add(now - data.t, { kind: frame.type });
        if (data && data.p !== undefined && typeof data.s === 'number') {
          const key = frame.type === 'message' ? `${frame.room}:${data.p}` : `direct:${data.p}`;
          const last = lastSeq.get(key);
          if (last !== undefined && data.s > last + 1) {
            metrics.lost.add(data.s - last - 1);
            console.warn(`lost: ${key} jumped from ${last} to ${data.s} on ${url}`);
          }
          if (last === undefined || data.s > last) lastSeq.set(key, data.s);
        }
        break;
      }
      case 'presence.join':
      case 'presence.leave':
        metrics.presenceEvents.add(1);
        break;
      case 'error':
        metrics.errorFrames.add(1, { code: String(frame.code) });
        break;
    }
    if (handlers.onFrame) handlers.onFrame(frame, conn);
  };

  let failed = false;
  const failOpen = (code, reason) => {
    if (failed) return;
    failed = true;
    console.warn(`connect failed: ${url} (${code}${reason ? ` ${reason}` : ''}) ${Date.now() - started} ms after connecting`);
    metrics.connectErrors.add(1, { code });
  };
  ws.onclose = (event) => {
    if (!welcomed) failOpen(String(event.code), event.reason);
    else if (!closing) {
      console.warn(`dropped: ${url} closed the connection (${event.code}${event.reason ? ` ${event.reason}` : ''}) ${Date.now() - started} ms after connecting`);
      metrics.drops.add(1, { code: String(event.code) });
      if (event.code === 4002) metrics.slowConsumerCloses.add(1);
    }
    closing = true;
    if (handlers.onClose) handlers.onClose(event, conn);
  };
  ws.onerror = (event) => {
    if (!welcomed && !closing) {
      failOpen('error', String(event.error));
    }
  };
  return conn;
}
