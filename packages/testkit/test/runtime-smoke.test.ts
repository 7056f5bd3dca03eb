import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startNats, startRedis } from '../src/index.ts';

/** Sends `payload` (if any) over TCP and resolves with the first chunk the server answers. */
function tcpExchange(port: number, payload?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => payload && socket.write(payload));
    socket.once('data', (d) => (socket.destroy(), resolve(d.toString())));
    socket.once('error', reject);
  });
}

describe('runtime', () => {
  it('runtime - Node is 24 or newer', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('runtime - uWebSockets.js loads and serves HTTP and a WebSocket echo on loopback', async () => {
    const uws = createRequire(import.meta.url)('uWebSockets.js') as typeof import('uWebSockets.js');
    const app = uws.App();
    app.get('/hello', (res) => void res.end('hi'));
    app.ws('/echo', { message: (ws, message, isBinary) => void ws.send(message, isBinary) });
    const port = await new Promise<number>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (s) => (s ? resolve(uws.us_socket_local_port(s as never)) : reject(new Error('listen failed')))),
    );
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/hello`)).text()).toBe('hi');
      const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
      await new Promise((r) => ws.once('open', r));
      ws.send('ping');
      const reply = await new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
      expect(reply).toBe('ping');
      ws.close();
    } finally {
      app.close();
    }
  });

  it('runtime - redis-server starts on a free port and answers PING', async () => {
    const redis = await startRedis();
    try {
      expect(await tcpExchange(redis.port, 'PING\r\n')).toBe('+PONG\r\n');
    } finally {
      await redis.stop();
    }
  });

  it('runtime - nats-server starts with JetStream on a free port and says so', async () => {
    const nats = await startNats({ jetstream: true });
    try {
      const info = await tcpExchange(nats.port);
      expect(info.startsWith('INFO ')).toBe(true);
      expect(JSON.parse(info.slice(5)).jetstream).toBe(true);
    } finally {
      await nats.cleanup();
    }
  });
});
