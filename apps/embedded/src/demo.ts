import { readFileSync } from 'node:fs';
import { isUserId } from '@parley/protocol';

const PAGE = readFileSync(new URL('../public/index.html', import.meta.url));
/** @parley/client, bundled (`npm run bundle:demo -w packages/client`): the page is built on it. */
const SDK = readFileSync(new URL('../public/parley-client.js', import.meta.url));

/** Grants of demo users: every room of the demo namespace. */
export const DEMO_GRANTS = { '*': ['subscribe', 'publish', 'presence', 'history'] };

/**
 * The demo page and the demo tenant's "backend": `POST /demo/token {user}` mints a user token
 * with the demo API key through the real token endpoint, as a tenant's backend would after its
 * own sign-in. Only the single-process mode serves it (it gives anyone a demo token).
 */
export function createDemoRoutes(mintWithApiKey: (body: unknown) => Promise<Response>) {
  return async (request: Request): Promise<Response | undefined> => {
    const { pathname } = new URL(request.url);
    if (pathname === '/' && (request.method === 'GET' || request.method === 'HEAD')) {
      return new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' } });
    }
    if (pathname === '/parley-client.js' && (request.method === 'GET' || request.method === 'HEAD')) {
      return new Response(SDK, { headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' } });
    }
    if (pathname !== '/demo/token') return undefined;
    if (request.method !== 'POST') return Response.json({ code: 'not_found', message: 'POST only', temporary: false }, { status: 405 });
    let user: unknown;
    try {
      user = ((await request.json()) as { user?: unknown }).user;
    } catch {
      user = undefined;
    }
    if (typeof user !== 'string' || !isUserId(user) || user.length > 40) {
      return Response.json({ code: 'invalid_user', message: 'name: 1-40 characters, no control characters, not starting with $', temporary: false }, { status: 400 });
    }
    return mintWithApiKey({ user, grants: DEMO_GRANTS, info: { name: user }, ttlSeconds: 3600 });
  };
}
