import { randomBytes } from 'node:crypto';
import type { Bus } from '@parley/bus';
import { CLOSE_CODES, ERRORS, ParleyError, errorBody, subjects, type ErrorCode } from '@parley/protocol';
import type { Logger } from '@parley/observability';
import type { ConnectionLifecycle } from '../domain/connection.ts';
import { TICKET_TTL_MS, newTicket, type TicketStore } from '../domain/connection-tickets.ts';
import type { Fanout } from '../domain/fanout.ts';
import type { TokenVerifier } from '../domain/token-verifier.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { SseConnection, SSE_REPLAY_BYTES } from './sse-connection.ts';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.ts';

/** @default 5 s: a comment line on every open stream this often keeps proxies and uWebSockets.js from timing it out. */
export const SSE_HEARTBEAT_MS = 5_000;
/** @default 30 s: how long a connection whose stream was lost waits to be resumed (`Last-Event-ID`) before it is closed. */
export const SSE_RESUME_GRACE_MS = 30_000;
/** @default 16: frames one `POST` may carry (one per line), each within the payload limit. */
export const SSE_MAX_FRAMES_PER_POST = 16;
/** @default 512 KiB: the largest `POST` body (it may be passed on over NATS, whose messages are at most 1 MiB by default). */
export const SSE_MAX_POST_BYTES = 512 * 1024;
/** @default 5 s: how long a gateway waits for the one holding a connection to take what it passed on. */
const FORWARD_TIMEOUT_MS = 5_000;

export interface SseRouteOptions {
  /** The stream's path; tickets are at `${path}/tickets`, sends at `${path}/connections/{id}`. */
  path: string;
  gatewayId: string;
  maxPayloadBytes: number;
  maxBackpressureBytes: number;
  ticketTtlMs?: number;
  resumeGraceMs?: number;
  heartbeatMs?: number;
}

export interface SseDeps {
  lifecycle: ConnectionLifecycle;
  verifyToken: TokenVerifier;
  tickets: TicketStore;
  /** The SSE side of the gateway's fan-out (see createSseTopics). */
  topics: SseTopics;
  bus: Bus;
  metrics: GatewayMetrics;
  logger: Logger;
}

const HEADERS_COMMON: Array<[string, string]> = [
  ['cache-control', 'no-store'],
  ['access-control-allow-headers', 'authorization, content-type, last-event-id'],
  ['access-control-allow-methods', 'GET, POST, DELETE, OPTIONS'],
  ['access-control-max-age', '600'],
];

/**
 * The SSE transport, for networks that break WebSockets: the same protocol, with server frames
 * as an `text/event-stream` and client frames sent by HTTP `POST`.
 *
 * 1. `POST {path}/tickets` with `Authorization: Bearer <token>` answers a single-use ticket that
 *    lives `ticketTtlMs` (tokens never travel in a URL).
 * 2. `GET {path}?ticket=…` opens the stream: an `event: connection` with the connection's id,
 *    then every server frame as a `message` event with an increasing `id`, and, when the
 *    gateway closes the connection, an `event: close` with the close code and reason.
 * 3. `POST {path}/connections/{id}` with `Authorization: Bearer <key>` (the key came with the
 *    connection's id): client frames, one JSON frame per line, in order. Any gateway takes them:
 *    one that does not hold the connection passes them on over the bus.
 * 4. A lost stream is resumed within `resumeGraceMs` by the same `GET` with `Last-Event-ID`
 *    (browsers' EventSource does this by itself): the events after it are sent again.
 * 5. `DELETE {path}/connections/{id}` closes the connection (the client's 1000).
 */
export function attachSseRoutes(app: TemplatedApp, deps: SseDeps, options: SseRouteOptions): { close(): void; count(): number } {
  const { lifecycle, verifyToken, tickets, topics, bus, metrics, logger } = deps;
  const ticketTtlMs = options.ticketTtlMs ?? TICKET_TTL_MS;
  const resumeGraceMs = options.resumeGraceMs ?? SSE_RESUME_GRACE_MS;
  const gatewayPrefix = `${Buffer.from(options.gatewayId).toString('base64url')}.`;
  const connections = new Map<string, SseConnection>();
  const byTicket = new Map<string, SseConnection>();

  const forget = (connection: SseConnection) => {
    connections.delete(connection.id);
    byTicket.delete(connection.ticket);
    for (const topic of connection.topics) topics.unsubscribe(connection, topic);
    connection.topics.clear();
    metrics.sseConnections.set(connections.size);
  };

  const hooks = {
    subscribe: (connection: SseConnection, topic: string) => topics.subscribe(connection, topic),
    unsubscribe: (connection: SseConnection, topic: string) => topics.unsubscribe(connection, topic),
    closed(connection: SseConnection, reason: string) {
      forget(connection);
      lifecycle.closed(connection.state, reason);
    },
    slowConsumer(connection: SseConnection) {
      if (connection.state.session) metrics.slowConsumers.inc({ tenant: connection.state.session.ns });
    },
  };

  const heartbeat = setInterval(() => {
    for (const connection of connections.values()) connection.heartbeat();
  }, options.heartbeatMs ?? SSE_HEARTBEAT_MS);
  heartbeat.unref();

  const deliverFrames = (connection: SseConnection, body: Buffer) => {
    let count = 0;
    for (const line of splitLines(body)) {
      if (line.byteLength > options.maxPayloadBytes) {
        connection.state.closeReason = 'frame_too_large';
        connection.end(CLOSE_CODES.protocol_violation, `frame over ${options.maxPayloadBytes} bytes`);
        return;
      }
      if (++count > SSE_MAX_FRAMES_PER_POST) {
        connection.state.closeReason = 'protocol_violation';
        connection.end(CLOSE_CODES.protocol_violation, `more than ${SSE_MAX_FRAMES_PER_POST} frames in one POST`);
        return;
      }
      // A frame may close the connection (a flood, violations): the ones after it are not handled.
      if (connection.closed) return;
      lifecycle.receive(connection.state, line.buffer.slice(line.byteOffset, line.byteOffset + line.byteLength) as ArrayBuffer, false);
    }
  };

  /**
   * What another gateway passed on (a POST or DELETE that reached it, for a connection held
   * here): a JSON header line, then the body. The answer goes back to that gateway's replies.
   */
  const inbox = bus.subscribe(subjects.gatewayInbox(options.gatewayId), (message) => {
    let status = 404;
    let header: ForwardHeader | undefined;
    try {
      const data = Buffer.from(message.data);
      const end = data.indexOf(10);
      header = JSON.parse(data.subarray(0, end).toString()) as ForwardHeader;
      const connection = connections.get(header.connection);
      if (connection && !connection.closed && connection.accepts(header.key)) {
        if (header.op === 'close') connection.closeByClient();
        else deliverFrames(connection, data.subarray(end + 1));
        status = 202;
      }
    } catch (error) {
      logger.warn({ err: error }, 'ignored a malformed SSE inbox message');
    }
    if (header?.from && header.reply) {
      bus.publish(subjects.gatewayReplies(header.from), Buffer.from(JSON.stringify({ reply: header.reply, status }))).catch(() => {});
    }
  });
  const waiting = new Map<string, (status: number) => void>();
  const replies = bus.subscribe(subjects.gatewayReplies(options.gatewayId), (message) => {
    try {
      const { reply, status } = JSON.parse(Buffer.from(message.data).toString()) as { reply: string; status: number };
      waiting.get(reply)?.(status);
    } catch {
      // Not ours to answer.
    }
  });
  let forwarded = 0;
  /** Passes a POST or DELETE on to the gateway holding the connection; resolves with the status it answered (503 without an answer). */
  const forward = (gatewayId: string, header: Omit<ForwardHeader, 'from' | 'reply'>, body: Buffer | undefined): Promise<number> => {
    const reply = `${++forwarded}`;
    const message = Buffer.concat([Buffer.from(JSON.stringify({ ...header, from: options.gatewayId, reply })), Buffer.from('\n'), body ?? Buffer.alloc(0)]);
    return new Promise<number>((resolve) => {
      const timer = setTimeout(() => done(503), FORWARD_TIMEOUT_MS);
      const done = (status: number) => {
        clearTimeout(timer);
        waiting.delete(reply);
        resolve(status);
      };
      waiting.set(reply, done);
      bus.publish(subjects.gatewayInbox(gatewayId), message).catch(() => done(503));
    });
  };
  /** The gateway a connection id names, when it is another one. */
  const holderOf = (id: string): string | undefined => {
    if (id.startsWith(gatewayPrefix) || !id.includes('.')) return undefined;
    const gatewayId = Buffer.from(id.slice(0, id.indexOf('.')), 'base64url').toString();
    return gatewayId && bus.state === 'connected' ? gatewayId : undefined;
  };

  const corsOrigin = (req: HttpRequest) => req.getHeader('origin') || '*';
  const writeCommon = (res: HttpResponse, origin: string) => {
    for (const [key, value] of HEADERS_COMMON) res.writeHeader(key, value);
    res.writeHeader('access-control-allow-origin', origin);
    if (origin !== '*') res.writeHeader('vary', 'origin');
  };
  const replyJson = (res: HttpResponse, origin: string, status: number, body: unknown) => {
    res.cork(() => {
      res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json');
      writeCommon(res, origin);
      res.end(JSON.stringify(body));
    });
  };
  const replyError = (res: HttpResponse, origin: string, code: ErrorCode, message?: string) => {
    const body = errorBody(code, message);
    replyJson(res, origin, httpStatusOf(code), body);
  };

  /** Reads a request body up to `limit` bytes; answers 413 itself beyond it. */
  const readBody = (res: HttpResponse, origin: string, limit: number, done: (body: Buffer) => void, aborted: { value: boolean }) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (aborted.value) return;
      size += chunk.byteLength;
      if (size > limit) {
        aborted.value = true;
        replyError(res, origin, 'frame_too_large', `request body over ${limit} bytes`);
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) done(Buffer.concat(chunks));
    });
  };

  const replyCors = (res: HttpResponse, origin: string) =>
    void res.cork(() => {
      res.writeStatus('204 No Content');
      writeCommon(res, origin);
      res.end();
    });
  app.options(`${options.path}/*`, (res, req) => replyCors(res, corsOrigin(req)));
  app.options(options.path, (res, req) => replyCors(res, corsOrigin(req)));

  app.post(`${options.path}/tickets`, (res, req) => {
    const origin = corsOrigin(req);
    const token = /^Bearer\s+(\S+)$/i.exec(req.getHeader('authorization'))?.[1];
    const aborted = { value: false };
    res.onAborted(() => (aborted.value = true));
    const issue = async () => {
      if (!token) return replyError(res, origin, 'token_invalid', 'send the token as "Authorization: Bearer <token>"');
      try {
        await verifyToken(token);
        const ticket = newTicket();
        await tickets.put(ticket, token, ticketTtlMs);
        metrics.sseTickets.inc({ result: 'issued' });
        if (aborted.value) return;
        replyJson(res, origin, 201, { ticket, expiresInSeconds: Math.floor(ticketTtlMs / 1000), stream: `${options.path}?ticket=${ticket}` });
      } catch (error) {
        const code: ErrorCode = error instanceof ParleyError ? error.code : 'unavailable';
        if (!(error instanceof ParleyError)) logger.warn({ err: error }, 'could not issue an SSE ticket');
        metrics.sseTickets.inc({ result: code });
        if (!aborted.value) replyError(res, origin, code, error instanceof ParleyError ? error.message : 'tickets are unavailable; retry shortly');
      }
    };
    // A body is not expected; it is read (and dropped) so that the request completes.
    readBody(res, origin, 1024, () => void issue(), aborted);
  });

  app.get(options.path, (res, req) => {
    const origin = corsOrigin(req);
    const query = new URLSearchParams(req.getQuery() ?? '');
    // Only from the header: the id carries the connection's resume key, which must stay out of URLs.
    const lastEventId = req.getHeader('last-event-id');
    const requestOrigin = req.getHeader('origin') || undefined;
    if (query.has('token') || query.has('access_token')) {
      metrics.sseTickets.inc({ result: 'token_in_url' });
      return replyError(res, origin, 'token_invalid', `tokens are not accepted in URLs: exchange yours for a ticket at POST ${options.path}/tickets`);
    }
    const ticket = query.get('ticket');
    if (!ticket) return replyError(res, origin, 'ticket_invalid', `no ticket: get one at POST ${options.path}/tickets`);

    if (lastEventId) {
      const connection = byTicket.get(ticket);
      const after = connection?.resumePoint(lastEventId);
      if (!connection || after === undefined) {
        metrics.sseResumes.inc({ result: 'refused' });
        return replyError(res, origin, 'ticket_invalid', 'this stream cannot be resumed here (closed, on another gateway, or too far behind): open a new connection');
      }
      metrics.sseResumes.inc({ result: 'resumed' });
      res.onAborted(() => connection.detached(res));
      res.cork(() => {
        writeStreamHead(res, origin);
        connection.attach(res, after);
      });
      return;
    }

    const aborted = { value: false };
    res.onAborted(() => (aborted.value = true));
    void (async () => {
      let token: string | undefined;
      try {
        token = await tickets.take(ticket);
      } catch (error) {
        logger.warn({ err: error }, 'could not redeem an SSE ticket');
        if (!aborted.value) replyError(res, origin, 'unavailable', 'tickets are unavailable; retry shortly');
        return;
      }
      if (aborted.value) return;
      if (token === undefined) {
        metrics.sseTickets.inc({ result: 'ticket_invalid' });
        return replyError(res, origin, 'ticket_invalid');
      }
      metrics.sseTickets.inc({ result: 'redeemed' });
      const id = gatewayPrefix + randomBytes(16).toString('base64url');
      const connection = new SseConnection(id, ticket, token, requestOrigin, hooks, {
        maxBackpressureBytes: options.maxBackpressureBytes,
        replayBytes: SSE_REPLAY_BYTES,
        resumeGraceMs,
      });
      connections.set(id, connection);
      byTicket.set(ticket, connection);
      metrics.sseConnections.set(connections.size);
      res.onAborted(() => connection.detached(res));
      res.cork(() => {
        writeStreamHead(res, origin);
        connection.attach(res, 0);
        connection.announce({ connection: id, send: `${options.path}/connections/${id}`, key: connection.sendKey });
      });
      void lifecycle.start(connection.state, connection);
    })();
  });

  const writeStreamHead = (res: HttpResponse, origin: string) => {
    res.writeStatus('200 OK').writeHeader('content-type', 'text/event-stream; charset=utf-8').writeHeader('x-accel-buffering', 'no');
    writeCommon(res, origin);
  };

  app.post(`${options.path}/connections/:id`, (res, req) => {
    const origin = corsOrigin(req);
    const id = req.getParameter(0) ?? '';
    const key = bearer(req);
    const aborted = { value: false };
    res.onAborted(() => (aborted.value = true));
    readBody(
      res,
      origin,
      SSE_MAX_POST_BYTES,
      (body) => {
        const connection = connections.get(id);
        if (connection && !connection.closed) {
          if (!connection.accepts(key)) return replyError(res, origin, 'not_found', NO_CONNECTION);
          deliverFrames(connection, body);
          return replyAccepted(res, origin);
        }
        const holder = holderOf(id);
        if (!holder) return replyError(res, origin, 'not_found', NO_CONNECTION);
        // Answered once the holder took the frames: a client's next POST, wherever it lands, comes after.
        void forward(holder, { op: 'frames', connection: id, key }, body).then((status) => {
          if (aborted.value) return;
          if (status === 202) replyAccepted(res, origin);
          else if (status === 404) replyError(res, origin, 'not_found', NO_CONNECTION);
          else replyError(res, origin, 'unavailable', 'the gateway holding this connection did not answer; retry, or open a new connection');
        });
      },
      aborted,
    );
  });

  app.del(`${options.path}/connections/:id`, (res, req) => {
    const origin = corsOrigin(req);
    const id = req.getParameter(0) ?? '';
    const key = bearer(req);
    const connection = connections.get(id);
    if (connection) {
      if (!connection.accepts(key)) return replyError(res, origin, 'not_found', NO_CONNECTION);
      connection.closeByClient();
      replyAccepted(res, origin);
      return;
    }
    const holder = holderOf(id);
    if (!holder) return replyError(res, origin, 'not_found', NO_CONNECTION);
    const aborted = { value: false };
    res.onAborted(() => (aborted.value = true));
    void forward(holder, { op: 'close', connection: id, key }, undefined).then((status) => {
      if (aborted.value) return;
      if (status === 202) replyAccepted(res, origin);
      else replyError(res, origin, status === 404 ? 'not_found' : 'unavailable', status === 404 ? NO_CONNECTION : undefined);
    });
  });

  const replyAccepted = (res: HttpResponse, origin: string): void =>
    void res.cork(() => {
      res.writeStatus('202 Accepted');
      writeCommon(res, origin);
      res.end();
    });

  return {
    count: () => connections.size,
    close() {
      clearInterval(heartbeat);
      inbox.unsubscribe();
      replies.unsubscribe();
      for (const done of [...waiting.values()]) done(503);
    },
  };
}

/** The SSE streams subscribed to each topic: the transport's part of the gateway's fan-out. */
export interface SseTopics extends Fanout {
  subscribe(connection: SseConnection, topic: string): void;
  unsubscribe(connection: SseConnection, topic: string): void;
}

export function createSseTopics(): SseTopics {
  const topics = new Map<string, Set<SseConnection>>();
  return {
    publish(topic, data, binary) {
      const members = topics.get(topic);
      if (members) for (const connection of members) connection.deliver(data, binary);
    },
    subscribe(connection, topic) {
      let members = topics.get(topic);
      if (!members) topics.set(topic, (members = new Set()));
      members.add(connection);
    },
    unsubscribe(connection, topic) {
      const members = topics.get(topic);
      members?.delete(connection);
      if (members?.size === 0) topics.delete(topic);
    },
  };
}

interface ForwardHeader {
  op: 'frames' | 'close';
  connection: string;
  key: string | undefined;
  /** The gateway that passed it on, and its id for the answer. */
  from: string;
  reply: string;
}

/** The connection key of a POST or DELETE (`Authorization: Bearer <key>`). */
const bearer = (req: HttpRequest) => /^Bearer\s+(\S+)$/i.exec(req.getHeader('authorization'))?.[1];
const NO_CONNECTION = 'no such connection (closed, or the key is wrong): open a new one';

function* splitLines(body: Buffer): Generator<Buffer> {
  let start = 0;
  while (start < body.length) {
    let end = body.indexOf(10, start);
    if (end === -1) end = body.length;
    const line = body.subarray(start, end);
    start = end + 1;
    const trimmed = line.length > 0 && line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line;
    if (trimmed.length > 0) yield trimmed;
  }
}

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };
const statusLine = (status: number) => `${status} ${STATUS_TEXT[status] ?? ''}`.trim();
const httpStatusOf = (code: ErrorCode): number => ERRORS[code].http;
