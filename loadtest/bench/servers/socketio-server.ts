// A peer of the benchmark, not part of the product: Socket.IO 4 with its Redis adapter, the
// setup its documentation recommends for several nodes. The packages are installed by the
// benchmark in a temporary folder (PEERS_DIR) and never committed.
// Environment: PORT, REDIS_URL, PEERS_DIR.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const load = createRequire(join(process.env.PEERS_DIR!, 'package.json'));
const { Server } = load('socket.io') as { Server: new (options: object) => SocketIoServer };
const { createAdapter } = load('@socket.io/redis-adapter') as { createAdapter: (pub: unknown, sub: unknown) => unknown };
const { createClient } = load('redis') as { createClient: (options: { url: string }) => RedisClient };

interface RedisClient {
  connect(): Promise<unknown>;
  duplicate(): RedisClient;
}
interface SocketIoSocket {
  join(room: string): void;
  emit(event: string, ...args: unknown[]): void;
  on(event: string, handler: (...args: never[]) => void): void;
}
interface SocketIoServer {
  on(event: 'connection', handler: (socket: SocketIoSocket) => void): void;
  to(room: string): { emit(event: string, data: unknown): void };
  attach(server: ReturnType<typeof createServer>): void;
}

const pub = createClient({ url: process.env.REDIS_URL! });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

// WebSocket only (no long-polling upgrade dance), no per-message compression: the same as the others.
const io = new Server({ adapter: createAdapter(pub, sub), transports: ['websocket'], perMessageDeflate: false, maxHttpBufferSize: 64 * 1024 });
io.on('connection', (socket) => {
  socket.on('join', (room: string) => {
    socket.join(room);
    socket.emit('joined');
  });
  socket.on('publish', (room: string, data: unknown) => {
    io.to(room).emit('message', data);
  });
});
const http = createServer();
io.attach(http);
http.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
