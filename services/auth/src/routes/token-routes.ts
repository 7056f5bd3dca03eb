import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { MAX_TOKEN_BYTES, ParleyError, grantsSchema, userInfoSchema } from '@parley/protocol';
import { MAX_TOKEN_TTL_LIMIT_SECONDS } from '../settings.ts';
import { mintUserToken } from '../user-tokens.ts';
import { requireApiKey } from './credentials.ts';
import type { AuthEnv, RouteDeps } from './route-context.ts';
import { errorResponses, namespaceSchema, userIdSchema } from './schemas.ts';

const tokenRequestSchema = z
  .object({
    user: userIdSchema,
    // The protocol's schemas are plain zod (no `.openapi()`); `.meta()` documents them.
    grants: grantsSchema.meta({
      description: 'Room name patterns (`*` matches any run of characters) mapped to capabilities',
      example: { lobby: ['subscribe', 'publish', 'presence'], 'game-*': ['subscribe'] },
    }),
    info: userInfoSchema.optional().meta({ description: 'Shown to other members in presence (≤ 1 KiB as JSON)', example: { name: 'Alice' } }),
    ttlSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_TOKEN_TTL_LIMIT_SECONDS)
      .optional()
      .openapi({ description: "Lifetime; capped by the tenant's maxTokenTtlSeconds, which is also the default", example: 900 }),
    ns: namespaceSchema
      .optional()
      .openapi({ description: "Optional; when given it must be the API key's namespace (the token's namespace always is)" }),
  })
  .strict()
  .openapi('TokenRequest');

const tokenResponseSchema = z
  .object({
    token: z.string().openapi({ description: 'The user JWT (ES256 or EdDSA, header kid)' }),
    expiresAt: z.number().int().openapi({ description: '`exp` of the token, unix seconds', example: 1767225600 }),
    jti: z.string().openapi({ description: 'Token id' }),
  })
  .openapi('TokenResponse');

/** `POST /v1/tokens` and `GET /v1/whoami`: what a tenant backend does with its API key. */
export function registerTokenRoutes(app: OpenAPIHono<AuthEnv>, deps: RouteDeps): void {
  const apiKey = requireApiKey(deps);

  app.use('/v1/tokens', async (c, next) => {
    await next();
    if (c.res.status >= 400) deps.metrics.tokenRefusals.inc({ reason: c.get('errorCode') ?? String(c.res.status) });
  });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/tokens',
      tags: ['tokens'],
      summary: 'Mint a user token',
      description:
        "Signs a short-lived user JWT for the API key's tenant: claims `sub, ns, grants, info?, jti, iat, nbf, exp, iss, aud, lim, origins, hist`.",
      security: [{ ApiKey: [] }],
      middleware: [apiKey],
      request: { body: { content: { 'application/json': { schema: tokenRequestSchema } }, required: true } },
      responses: {
        200: { description: 'The token', content: { 'application/json': { schema: tokenResponseSchema } } },
        ...errorResponses(400, 401, 403, 413, 429, 503),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const ns = c.get('ns');
      if (body.ns !== undefined && body.ns !== ns) {
        throw new ParleyError('namespace_mismatch', `this API key belongs to namespace ${ns}, not ${body.ns}`);
      }
      const nowSeconds = Math.floor(deps.now() / 1000);
      const revokedBefore = await deps.store.getUserRevocation(ns, body.user);
      const minted = await mintUserToken(
        deps.keys,
        c.get('tenant'),
        { user: body.user, grants: body.grants, ...(body.info !== undefined && { info: body.info }), ...(body.ttlSeconds !== undefined && { ttlSeconds: body.ttlSeconds }) },
        { nowSeconds, ...(revokedBefore !== undefined && { revokedBefore }) },
      );
      // A token the gateways' handshake would refuse (HTTP 431) is refused here, with a reason.
      if (minted.token.length > MAX_TOKEN_BYTES) {
        throw new ParleyError(
          'token_too_large',
          `the token would be ${minted.token.length} bytes; gateways accept at most ${MAX_TOKEN_BYTES} (use fewer grant patterns or less info)`,
        );
      }
      deps.metrics.tokensMinted.inc({ tenant: ns });
      return c.json({ token: minted.token, expiresAt: minted.expiresAt, jti: minted.jti }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/whoami',
      tags: ['tokens'],
      summary: 'The namespace and key id of an API key',
      description: 'Lets other services (presence) authenticate a tenant API key.',
      security: [{ ApiKey: [] }],
      middleware: [apiKey],
      responses: {
        200: {
          description: 'The API key is valid',
          content: { 'application/json': { schema: z.object({ ns: z.string(), keyId: z.string() }).openapi('WhoAmI') } },
        },
        ...errorResponses(401, 429, 503),
      },
    }),
    (c) => c.json({ ns: c.get('ns'), keyId: c.get('keyId') }, 200),
  );
}
