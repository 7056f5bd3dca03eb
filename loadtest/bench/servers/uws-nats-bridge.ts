// The baseline, not part of the product: a bare uWebSockets.js pub/sub bridged by NATS core. No
// auth, no limits, no presence, no ids. It speaks just enough of Parley's protocol for the same
// clients to drive it (welcome, join → joined, publish → ack, message), so that the benchmark
// and the CI guard can measure Parley against it with the same load generator.
// Environment: PORT, NATS_URL, and BRIDGE_ENVELOPE=parley to wrap messages in an envelope of the
// same size as Parley's (ts, msgId and from.conn of 22 characters, from.user), to separate bytes
// from work.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { connect } from '@nats-io/transport-node';
import type * as UWS from 'uWebSockets.js';

const uws = createRequire(import.meta.url)('uWebSockets.js') as typeof UWS;
const nc = await connect({ servers: process.env.NATS_URL!, maxReconnectAttempts: -1 });
const decoder = new TextDecoder();
const members = new Map<string, number>();
const parleySized = process.env.BRIDGE_ENVELOPE === 'parley';
const conn = randomBytes(16).toString('base64url');

const app = uws.App().ws<object>('/v1/ws', {
  maxPayloadLength: 64 * 1024,
  maxBackpressure: 1024 * 1024,
  // Like Parley: a client that cannot keep up is closed, never silently skipped.
  closeOnBackpressureLimit: true,
  idleTimeout: 60,
  upgrade(res, req, context) {
    const offered = req.getHeader('sec-websocket-protocol').split(',').map((p) => p.trim());
    res.upgrade({}, req.getHeader('sec-websocket-key'), offered.includes('parley.v1') ? 'parley.v1' : '', req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => void ws.send('{"type":"welcome"}'),
  message(ws, message) {
    const frame = JSON.parse(decoder.decode(message)) as { type: string; id?: string | number; room: string; data?: unknown };
    const id = frame.id === undefined ? '' : `,"id":${JSON.stringify(frame.id)}`;
    if (frame.type === 'join') {
      ws.subscribe(frame.room);
      const n = members.get(frame.room) ?? 0;
      if (n === 0) nc.subscribe(`room.${frame.room}`, { callback: (_err, msg) => void app.publish(frame.room, msg.data, false) });
      members.set(frame.room, n + 1);
      ws.send(`{"type":"joined","room":${JSON.stringify(frame.room)}${id}}`);
    } else if (frame.type === 'publish') {
      const message = parleySized
        ? { type: 'message', ts: Date.now(), room: frame.room, msgId: randomBytes(16).toString('base64url'), from: { user: 'bench-user', conn }, data: frame.data }
        : { type: 'message', room: frame.room, data: frame.data };
      nc.publish(`room.${frame.room}`, JSON.stringify(message));
      ws.send(`{"type":"ack"${id}}`);
    }
  },
});
app.listen('127.0.0.1', Number(process.env.PORT), (socket) => {
  if (!socket) process.exit(1);
});
