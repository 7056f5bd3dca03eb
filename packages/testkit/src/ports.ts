import { createServer, type Server } from 'node:net';

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves once something accepts TCP connections on the port, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Resolves once the server on the port answers as expected: it sends `expect` first (NATS's INFO),
 * or replies with it to `send` (Redis's +PONG to PING). Stronger than an open port, which may
 * belong to another process that took the port first. Rejects after `timeoutMs`.
 */
export async function waitForReply(port: number, probe: { send?: string; expect: string }, timeoutMs = 10_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => probe.send && socket.write(probe.send));
      const done = (text: string) => (clearTimeout(timer), socket.destroy(), resolve(text));
      const timer = setTimeout(() => done('no reply within 1 s'), 1000);
      let received = '';
      socket.on('data', (d) => {
        received += d.toString();
        if (received.length >= probe.expect.length || received.includes('\n')) done(received);
      });
      socket.once('error', (error) => done(error.message));
    });
    if (reply.startsWith(probe.expect)) return;
    last = reply.slice(0, 200);
    if (Date.now() > deadline) throw new Error(`127.0.0.1:${port} did not answer ${JSON.stringify(probe.expect)} within ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A port held by a listener of the test's own, to stand for one another process took first. */
export async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}
