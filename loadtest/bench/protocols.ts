import type { LeanSocket } from './lean-ws.ts';

/** The systems the benchmark compares. */
export type SystemName = 'parley' | 'parley-deflate' | 'uws-nats' | 'uws-nats-envelope' | 'socketio-redis' | 'centrifugo';
/** The systems a run compares by default. */
export const SYSTEMS: SystemName[] = ['parley', 'uws-nats', 'uws-nats-envelope', 'socketio-redis', 'centrifugo'];
/** Run only when asked for: Parley with permessage-deflate negotiated (`PARLEY_WS_COMPRESSION=on`) by every client. */
export const OPTIONAL_SYSTEMS: SystemName[] = ['parley-deflate'];
/** Systems whose idle memory is not measured: the same server as another one (`uws-nats`). */
export const SKIP_IDLE = new Set<SystemName>(['uws-nats-envelope']);

/** Per-connection protocol state kept by the load generator. */
export interface ConnState {
  room: string;
  token: string | undefined;
  ready: boolean;
  onReady(): void;
  onError(): void;
  nextId: number;
}

/**
 * How the load generator speaks one system's wire protocol: the upgrade path and headers, the
 * handshake up to "joined the room", how a publish is framed, and how many room messages a
 * received frame carries (Centrifugo batches several pushes per frame, one per line).
 */
export interface Protocol {
  path: string;
  headers(token: string | undefined): Record<string, string>;
  open(socket: LeanSocket, conn: ConnState): void;
  /** Handles one text frame; returns the number of room messages it delivered. */
  frame(buf: Buffer, start: number, end: number, socket: LeanSocket, conn: ConnState): number;
  publish(room: string, payload: string, conn: ConnState): string;
}

const ch = (c: string) => c.charCodeAt(0);
const M = ch('m');
const J = ch('j');
const W = ch('w');
const E = ch('e');

/** Parley (and the bare bridge, which speaks a subset of it): `{"type":"<t>…` has the type's first letter at index 9. */
const parley: Protocol = {
  path: '/v1/ws',
  headers: (token) => ({ 'Sec-WebSocket-Protocol': token ? `parley.v1, parley.token.${token}` : 'parley.v1' }),
  open() {},
  frame(buf, start, end, socket, conn) {
    if (end - start < 10) return 0;
    const t = buf[start + 9];
    if (t === M) return 1;
    if (t === W) socket.send(`{"type":"join","room":"${conn.room}"}`);
    else if (t === J) conn.onReady();
    else if (t === E) conn.onError();
    return 0;
  },
  publish: (room, payload) => `{"type":"publish","room":"${room}","data":${payload}}`,
};

/** Parley with compression: every client offers permessage-deflate, as browsers do. */
const parleyDeflate: Protocol = {
  ...parley,
  headers: (token) => ({ ...parley.headers(token), 'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover; server_no_context_takeover' }),
};

/** The bare bridge answers the same frames (welcome, joined, ack, message) without auth. */
const uwsNats: Protocol = { ...parley, headers: () => ({ 'Sec-WebSocket-Protocol': 'parley.v1' }) };

/** Socket.IO v4 over a plain WebSocket: Engine.IO packets `0` open, `2` ping, `4` message; Socket.IO `0` connect, `2` event. */
const socketio: Protocol = {
  path: '/socket.io/?EIO=4&transport=websocket',
  headers: () => ({}),
  open() {},
  frame(buf, start, end, socket, conn) {
    const p0 = buf[start];
    if (p0 === ch('2') && end - start === 1) {
      socket.send('3');
      return 0;
    }
    if (p0 === ch('0')) {
      socket.send('40');
      return 0;
    }
    if (p0 !== ch('4')) return 0;
    const p1 = buf[start + 1];
    if (p1 === ch('2')) {
      // 42["message",…] / 42["joined"]
      const e = buf[start + 4];
      if (e === M) return 1;
      if (e === J) conn.onReady();
      return 0;
    }
    if (p1 === ch('0')) socket.send(`42["join","${conn.room}"]`);
    else if (p1 === ch('4')) conn.onError();
    return 0;
  },
  publish: (room, payload) => `42["publish","${room}",${payload}]`,
};

/** Centrifugo's JSON protocol: one command or reply per line; pushes `{"push":…}`; `{}` is a ping to answer with `{}`. */
const centrifugo: Protocol = {
  path: '/connection/websocket',
  headers: () => ({}),
  open(socket, conn) {
    socket.send(`{"id":1,"connect":{"token":"${conn.token}","name":"bench"}}`);
  },
  frame(buf, start, end, socket, conn) {
    let delivered = 0;
    let lineStart = start;
    while (lineStart < end) {
      let lineEnd = buf.indexOf(10, lineStart);
      if (lineEnd < 0 || lineEnd > end) lineEnd = end;
      const length = lineEnd - lineStart;
      if (length === 2 && buf[lineStart] === ch('{') && buf[lineStart + 1] === ch('}')) socket.send('{}');
      else if (buf[lineStart + 2] === ch('p') && buf[lineStart + 3] === ch('u')) delivered++;
      else if (buf[lineStart + 2] === ch('i')) {
        // {"id":1,"connect":…} / {"id":2,"subscribe":…} / {"id":N,"error":…}
        const id = buf[lineStart + 6];
        const isError = buf.indexOf('"error"', lineStart) >= 0 && buf.indexOf('"error"', lineStart) < lineEnd;
        if (isError) conn.onError();
        else if (id === ch('1') && buf[lineStart + 7] === ch(',')) socket.send(`{"id":2,"subscribe":{"channel":"${conn.room}"}}`);
        else if (id === ch('2') && buf[lineStart + 7] === ch(',')) conn.onReady();
      }
      lineStart = lineEnd + 1;
    }
    return delivered;
  },
  publish: (room, payload, conn) => `{"id":${conn.nextId++},"publish":{"channel":"${room}","data":${payload}}}`,
};

export const PROTOCOLS: Record<SystemName, Protocol> = { parley, 'parley-deflate': parleyDeflate, 'uws-nats': uwsNats, 'uws-nats-envelope': uwsNats, 'socketio-redis': socketio, centrifugo };

/**
 * The payload's timestamp key. `~` appears in no system's envelope, so the timestamp is found
 * with one byte search (memchr): a search for `"t":` would stop at every quote of the envelope
 * before the payload, and cost more for systems with longer envelopes (the load generator must
 * spend the same per message on every system).
 */
export const TIMESTAMP_KEY = '~';
const TILDE = TIMESTAMP_KEY.charCodeAt(0);

/**
 * The publisher's payload: its monotonic timestamp in µs and a sequence number; with `padding`
 * (`--payload-bytes`), also a text field, so that messages reach a size worth compressing.
 */
export const benchPayload = (micros: number, seq: number, padding = '') =>
  padding ? `{"${TIMESTAMP_KEY}":${micros},"s":${seq},"text":"${padding}"}` : `{"${TIMESTAMP_KEY}":${micros},"s":${seq}}`;

const WORDS = (
  'the a to and of in is it you that for on was with he as have be at one are this but by from they we say her she or an will my all would there ' +
  'their what so up out if about who get which go me when make can like time no just him know take people into year your good some could them see ' +
  'other than then now look only come its over think also back after use two how our work first well way even new want because any these give day ' +
  'most us room message join later tonight meeting thanks sure okay great sounds plan send photo call home late tomorrow weekend coffee lunch ready'
).split(' ');

/**
 * `bytes` ASCII characters of chat-like text: words drawn from a small vocabulary by a seeded
 * generator, never a repeated block, so deflate gains on it what it gains on real messages
 * (about 2× at 1 KiB), not what it gains on a repeated sentence. '' for 0.
 */
export function payloadPadding(bytes: number): string {
  let seed = 12345;
  let text = '';
  while (text.length < bytes) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    text += `${WORDS[seed % WORDS.length]}${seed % 11 === 0 ? '. ' : ' '}`;
  }
  return text.slice(0, bytes);
}

/** The integer after the payload's `"~":` in a frame (the publisher's timestamp in µs), or -1. */
export function readTimestamp(buf: Buffer, start: number, end: number): number {
  const at = buf.indexOf(TILDE, start);
  if (at < 0 || at + 3 >= end) return -1;
  let value = 0;
  for (let i = at + 3; i < end; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
  }
  return value;
}
