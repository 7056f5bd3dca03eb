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
 * Resolves once the server on the port answers as expected: `accept` says yes to what it sent
 * first (NATS's INFO) or in reply to `send` (Redis's answer to PING and INFO). Stronger than an
 * open port, which may belong to another process that took the port first; `accept` should look
 * for something only our server says (its pid, its name). Rejects after `timeoutMs`.
 */
export async function waitForReply(port: number, probe: { send?: string; accept(received: string): boolean }, timeoutMs = 10_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    const { ok, received } = await new Promise<{ ok: boolean; received: string }>((resolve) => {
      let received = '';
      const socket = connect(port, '127.0.0.1', () => probe.send && socket.write(probe.send));
      const done = (ok: boolean, text = received) => (clearTimeout(timer), socket.destroy(), resolve({ ok, received: text }));
      const timer = setTimeout(() => done(false), 1000);
      socket.on('data', (d) => {
        received += d.toString();
        if (probe.accept(received)) done(true);
      });
      socket.once('close', () => done(false));
      socket.once('error', (error) => done(false, error.message));
    });
    if (ok) return;
    last = received.slice(0, 200) || 'no reply within 1 s';
    if (Date.now() > deadline) throw new Error(`127.0.0.1:${port} did not answer as expected within ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A port held by a listener of the test's own, to stand for one another process took first. */
export async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}
