import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

// The ESM wrapper of this build lacks some named exports that index.d.ts declares; load the CommonJS module.
const uws = createRequire(import.meta.url)('uWebSockets.js') as typeof UWS;
export default uws;
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
