import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { PublishedMessageInfo } from '@parley/bus';
import {
  ParleyError,
  SERVER_SENDER,
  encodeControlMessage,
  encodeDirectFrame,
  encodeRoomMessageFrame,
  newId,
  subjects,
  type ControlMessage,
} from '@parley/protocol';
import { DEFAULT_MAX_REVOCATIONS_PER_TENANT, MAX_TOKEN_TTL_LIMIT_SECONDS } from '../settings.ts';
import { requireApiKey } from './credentials.ts';
import type { AuthEnv, RouteDeps } from './route-context.ts';
import { dataSchema, errorResponses, roomParamSchema, userParamSchema } from './schemas.ts';

const acceptedMessage = z.object({ msgId: z.string() }).openapi('AcceptedMessage');
const accepted = z.object({}).openapi('Accepted');
const dataBody = z.object({ data: dataSchema }).strict();

/**
 * The server API of a tenant backend: publish to a room, message a user, disconnect, revoke (kicks
 * and the rest of moderation are in moderation-routes.ts).
 * The namespace is always the API key's. A 202 means the bus accepted the message (gateways act
 * on it within about a second); a 503 `unavailable` means it was not sent and may be retried.
 */
export function registerServerRoutes(app: OpenAPIHono<AuthEnv>, deps: RouteDeps): void {
  const apiKey = requireApiKey(deps);

  const count = (op: string) => async (c: { res: Response }, next: () => Promise<void>) => {
    await next();
    deps.metrics.serverRequests.inc({ op, outcome: String(c.res.status) });
  };
  app.use('/v1/rooms/:room/publish', count('publish'));
  app.use('/v1/users/:user/direct', count('direct'));
  app.use('/v1/users/:user/disconnect', count('disconnect'));
  app.use('/v1/users/:user/revoke', count('revoke'));

  const publish = async (subject: string, bytes: Uint8Array, about?: PublishedMessageInfo) => {
    try {
      await deps.bus.publish(subject, bytes, undefined, about);
    } catch (error) {
      if (error instanceof ParleyError) throw error;
      throw new ParleyError('unavailable', undefined, { cause: error });
    }
  };
  const sendControl = (ns: string, message: ControlMessage) => publish(subjects.control(ns), encodeControlMessage(message));
  const checkSize = (bytes: Uint8Array, maxFrameBytes: number) => {
    if (bytes.byteLength > maxFrameBytes) {
      throw new ParleyError('frame_too_large', `the message is ${bytes.byteLength} bytes; the tenant allows ${maxFrameBytes}`);
    }
  };
  const common = { security: [{ ApiKey: [] }], middleware: [apiKey], tags: ['server'] };

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/v1/rooms/{room}/publish',
      summary: 'Publish a message to a room',
      description: 'Members receive a `message` frame from the sender `$server`.',
      request: { params: roomParamSchema, body: { content: { 'application/json': { schema: dataBody } }, required: true } },
      responses: {
        202: { description: 'Accepted by the bus', content: { 'application/json': { schema: acceptedMessage } } },
        ...errorResponses(400, 401, 413, 429, 503),
      },
    }),
    async (c) => {
      const { room } = c.req.valid('param');
      const { data } = c.req.valid('json');
      const ns = c.get('ns');
      const msgId = newId();
      const ts = deps.now();
      const bytes = encodeRoomMessageFrame({ room, msgId, from: SERVER_SENDER, data, ts });
      checkSize(bytes, c.get('tenant').settings.maxFrameBytes);
      await publish(subjects.room(ns, room), bytes, { msgId });
      return c.json({ msgId }, 202);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/v1/users/{user}/direct',
      summary: 'Send a direct message to a user',
      description: 'Every connection of the user receives a `direct` frame from the sender `$server`.',
      request: { params: userParamSchema, body: { content: { 'application/json': { schema: dataBody } }, required: true } },
      responses: {
        202: { description: 'Accepted by the bus', content: { 'application/json': { schema: acceptedMessage } } },
        ...errorResponses(400, 401, 413, 429, 503),
      },
    }),
    async (c) => {
      const { user } = c.req.valid('param');
      const { data } = c.req.valid('json');
      const msgId = newId();
      const ts = deps.now();
      const bytes = encodeDirectFrame({ msgId, from: SERVER_SENDER, data, ts });
      checkSize(bytes, c.get('tenant').settings.maxFrameBytes);
      await publish(subjects.user(c.get('ns'), user), bytes, { msgId });
      return c.json({ msgId }, 202);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/v1/users/{user}/disconnect',
      summary: "Close every connection of a user",
      request: {
        params: userParamSchema,
        body: { content: { 'application/json': { schema: z.object({ reason: z.string().max(200).optional() }).strict() } }, required: false },
      },
      responses: {
        202: { description: 'Accepted by the bus', content: { 'application/json': { schema: accepted } } },
        ...errorResponses(400, 401, 429, 503),
      },
    }),
    async (c) => {
      const { user } = c.req.valid('param');
      const { reason } = c.req.valid('json');
      await sendControl(c.get('ns'), { op: 'disconnect', user, ...(reason !== undefined && { reason }) });
      return c.json({}, 202);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/v1/users/{user}/revoke',
      summary: "Revoke every token of a user issued until now",
      description:
        'Stores the revocation (tokens minted afterwards are not affected) and tells the gateways, which close the live connections using those tokens. A revocation is kept until the tokens it covers have expired (7 days); a tenant holds at most `PARLEY_MAX_REVOCATIONS_PER_TENANT` (default 10,000) live revocations of distinct users: beyond that the answer is 429 `too_many_revocations` (revoking an already revoked user again always works).',
      request: { params: userParamSchema },
      responses: {
        202: {
          description: 'Stored and accepted by the bus',
          content: {
            'application/json': {
              schema: z.object({ before: z.number().int().openapi({ description: 'Tokens issued at or before this time (unix seconds) are revoked' }) }).openapi('Revoked'),
            },
          },
        },
        ...errorResponses(400, 401, 429, 503),
      },
    }),
    async (c) => {
      const { user } = c.req.valid('param');
      const ns = c.get('ns');
      const max = deps.maxRevocationsPerTenant ?? DEFAULT_MAX_REVOCATIONS_PER_TENANT;
      const before = Math.floor(deps.now() / 1000);
      // Stored first: even when the bus is down, tokens minted from now on skip this revocation
      // and a retry of the request repeats the broadcast.
      // Kept for the longest lifetime any tenant setting allows: the tenant's may have been longer.
      try {
        await deps.store.revokeUser(ns, user, before, MAX_TOKEN_TTL_LIMIT_SECONDS + 60, max);
      } catch (error) {
        if (error instanceof ParleyError && error.code === 'too_many_revocations') deps.metrics.revocationsRefused.inc();
        throw error;
      }
      await sendControl(ns, { op: 'revoke', user, before });
      deps.logger.info({ ns, user, before }, 'user tokens revoked');
      return c.json({ before }, 202);
    },
  );
}
