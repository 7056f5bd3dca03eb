import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsRouteCount, natsSubscriptionCount, natsSubscriptions, startNats, startNatsCluster, waitForNatsSubscriptions, type NatsProcess } from '../src/index.ts';

/** A bare NATS protocol client: enough to hold subscriptions under a connection name. */
async function rawClient(port: number, name: string): Promise<{ socket: Socket; send(line: string): Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  let buffered = '';
  let onData: (() => void) | undefined;
  socket.on('data', (d) => {
    buffered += d.toString();
    onData?.();
  });
  const untilPong = () =>
    new Promise<void>((resolve) => {
      onData = () => {
        if (buffered.includes('PONG\r\n')) {
          buffered = buffered.replace('PONG\r\n', '');
          resolve();
        }
      };
      onData();
    });
  const send = async (line: string) => {
    socket.write(`${line}\r\nPING\r\n`);
    await untilPong();
  };
  await send(`CONNECT ${JSON.stringify({ name, verbose: false, pedantic: false })}`);
  return { socket, send };
}

describe('testkit nats helpers', () => {
  let nats: NatsProcess;
  beforeAll(async () => {
    nats = await startNats({ monitor: true, jetstream: true });
  });
  afterAll(async () => {
    await nats?.cleanup();
  });

  it('testkit - the monitoring endpoint listens on loopback and counts a named connection\'s subscriptions', async () => {
    const monitorUrl = nats.monitorUrl as string;
    const varz = (await (await fetch(`${monitorUrl}/varz`)).json()) as { http_host: string; host: string };
    expect(varz.http_host).toBe('127.0.0.1');
    expect(varz.host).toBe('127.0.0.1');
    const client = await rawClient(nats.port, 'gw-probe');
    try {
      await client.send('SUB chat.acme.a 1\r\nSUB chat.acme.b 2');
      expect(await natsSubscriptionCount(monitorUrl, 'gw-probe')).toBe(2);
      expect(await natsSubscriptionCount(monitorUrl, 'someone-else')).toBe(0);
      await client.send('UNSUB 1');
      expect(await waitForNatsSubscriptions(monitorUrl, 'gw-probe', (s) => s.length === 1)).toEqual(['chat.acme.b']);
      expect(await natsSubscriptions(monitorUrl, 'gw-probe')).toEqual(['chat.acme.b']);
    } finally {
      client.socket.destroy();
    }
  });

  it('testkit - cleanup stops the server and removes its JetStream store', async () => {
    const js = await startNats({ jetstream: true });
    const dir = js.process.spawnargs[js.process.spawnargs.indexOf('-sd') + 1] as string;
    expect(existsSync(dir)).toBe(true);
    await js.cleanup();
    expect(js.process.exitCode !== null || js.process.signalCode !== null).toBe(true);
    expect(existsSync(dir)).toBe(false);
  });

  it('testkit - startNatsCluster routes every server to every other one', async () => {
    const cluster = await startNatsCluster(3);
    try {
      expect(cluster.urls).toHaveLength(3);
      const routes = await Promise.all(cluster.servers.map((s) => natsRouteCount(s.monitorUrl as string)));
      expect(routes).toEqual([2, 2, 2]);
      expect(cluster.serverOf(`127.0.0.1:${cluster.servers[1]?.port}`)).toBe(cluster.servers[1]);
    } finally {
      await cluster.stop();
    }
  });
});
