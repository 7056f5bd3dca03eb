import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { PresenceStore } from '@parley/presence-store';
import { requirePresenceGrant, type PresenceEnv } from '../auth-middleware.ts';
import type { PresenceMetrics } from '../metrics.ts';
import { countSchema, errorResponses, membersSchema, roomParam, userParam, userRoomsSchema } from './schemas.ts';

const security = [{ Bearer: [] }];

/** The presence queries. Every one reads the namespace of the credential, nothing else. */
export function registerQueryRoutes(app: OpenAPIHono<PresenceEnv>, deps: { store: PresenceStore; metrics: PresenceMetrics }): void {
  const { store, metrics } = deps;
  const ok = () => metrics.redisUp.set(1);

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/rooms/{room}/members',
      tags: ['presence'],
      summary: 'Members of a room',
      description: 'One entry per user with the number of their live connections and the user info from their token. A user token needs the `presence` grant for the room.',
      security,
      request: { params: roomParam },
      responses: {
        200: { description: 'The members', content: { 'application/json': { schema: membersSchema } } },
        ...errorResponses(400, 401, 403, 429, 503),
      },
    }),
    async (c) => {
      const { room } = c.req.valid('param');
      const principal = c.get('principal');
      requirePresenceGrant(principal, room);
      const members = await store.members(principal.ns, room);
      ok();
      const connections = members.reduce((n, m) => n + m.connections, 0);
      return c.json({ room, users: members.length, connections, members }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/rooms/{room}/count',
      tags: ['presence'],
      summary: 'How many users and connections a room has',
      description: 'Cheap for rooms of any size (no listing). A user token needs the `presence` grant for the room.',
      security,
      request: { params: roomParam },
      responses: {
        200: { description: 'The counts', content: { 'application/json': { schema: countSchema } } },
        ...errorResponses(400, 401, 403, 429, 503),
      },
    }),
    async (c) => {
      const { room } = c.req.valid('param');
      const principal = c.get('principal');
      requirePresenceGrant(principal, room);
      const count = await store.count(principal.ns, room);
      ok();
      return c.json({ room, ...count }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/users/{user}/rooms',
      tags: ['presence'],
      summary: 'Rooms where a user is present',
      description:
        'With an API key: every room of the namespace where the user has a live connection. With a user token: all of them for the token\'s own user, otherwise only rooms where the token has the `presence` grant.',
      security,
      request: { params: userParam },
      responses: {
        200: { description: 'The rooms', content: { 'application/json': { schema: userRoomsSchema } } },
        ...errorResponses(400, 401, 429, 503),
      },
    }),
    async (c) => {
      const { user } = c.req.valid('param');
      const principal = c.get('principal');
      let rooms = await store.userRooms(principal.ns, user);
      ok();
      if (principal.kind === 'user' && principal.user !== user) rooms = rooms.filter((room) => principal.grants.allows(room, 'presence'));
      return c.json({ user, rooms: rooms.sort() }, 200);
    },
  );
}
