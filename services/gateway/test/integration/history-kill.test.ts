import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, type TestKeys } from '../support.ts';
import { startGatewayProcess, startJwksServer, type GatewayProcess } from '../gateway-process.ts';
import { seqsOf, startHistoryBackend, until, type HistoryBackend } from '../history-support.ts';

const FAST = { messagesPerSecond: 100_000, burst: 100_000 };
const RETENTION = { maxMessagesPerRoom: 10_000 };
const ROOM = 'stream';

describe('history under a gateway crash', () => {
  let keys: TestKeys;
  let backend: HistoryBackend;
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  let doomed: GatewayProcess;
  let survivor: string;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    backend = await startHistoryBackend('jetstream', keys);
    jwks = await startJwksServer([keys]);
    doomed = await startGatewayProcess({ natsUrl: backend.nats?.url as string, jwksUrl: jwks.url, gatewayId: 'doomed' });
    survivor = (await backend.gateway()).wsUrl;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await doomed?.kill();
    await jwks?.close();
    await backend?.stop();
  });

  const connect = async (url: string, user: string) => {
    const client = await join(url, await mintToken(keys, { sub: user, hist: true, hret: RETENTION, lim: FAST }));
    clients.push(client);
    return client;
  };

  /** Publishes every few milliseconds until stopped; `acks()` are the seqs acknowledged so far. */
  const steadyPublisher = (client: TestClient, tag: string) => {
    let running = true;
    let sent = 0;
    const done = (async () => {
      while (running && !client.isClosed) {
        client.send({ type: 'publish', id: `${tag}-${sent}`, room: ROOM, data: { tag, i: sent } });
        sent++;
        await new Promise((r) => setTimeout(r, 4));
      }
    })();
    const replies = () => client.frames.filter((f) => typeof f.id === 'string' && f.id.startsWith(`${tag}-`));
    return {
      acks: () => replies().filter((f) => f.type === 'ack').map((f) => f.seq as number),
      async stop() {
        running = false;
        await done;
        if (!client.isClosed) await until(() => replies().length === sent, `${tag}'s last acks`);
      },
    };
  };

  it('kill - a gateway SIGKILLed mid-stream: every client that resumes elsewhere ends with the complete ordered sequence', async () => {
    const receivers = await Promise.all(
      Array.from({ length: 4 }, async (_, i) => {
        const client = await connect(doomed.wsUrl, `reader-${i}`);
        const joined = await client.request({ type: 'join', room: ROOM }).catch((error: Error) => {
          throw new Error(`${error.message}\ngateway output:\n${doomed.output()}`);
        });
        return { user: `reader-${i}`, client, start: joined.seq as number, resumed: undefined as TestClient | undefined };
      }),
    );
    const onSurvivor = steadyPublisher(await connect(survivor, 'steady'), 'steady');
    const onDoomed = steadyPublisher(await connect(doomed.wsUrl, 'doomed'), 'doomed');
    await until(() => receivers.every((r) => seqsOf(r.client, ROOM).length >= 50), 'every reader to get 50 messages');

    await doomed.kill('SIGKILL');
    const ackedBeforeKill = onSurvivor.acks().length;
    await Promise.all(
      receivers.map(async (r) => {
        await r.client.closed;
        const seen = seqsOf(r.client, ROOM);
        r.resumed = await connect(survivor, r.user);
        const joined = await r.resumed.request({ type: 'join', room: ROOM, since: Math.max(r.start, ...seen) });
        expect(joined.type).toBe('joined');
      }),
    );
    await until(() => onSurvivor.acks().length >= ackedBeforeKill + 100, '100 more messages after the crash');
    await onSurvivor.stop();
    await onDoomed.stop();

    // The truth: the room's stored log, read back page by page.
    const reader = await connect(survivor, 'auditor');
    const stored: number[] = [];
    for (let after = 0, more = true; more; ) {
      const page = await reader.request({ type: 'history', room: ROOM, after, limit: 1000 });
      const messages = page.messages as Array<{ seq: number }>;
      stored.push(...messages.map((m) => m.seq));
      after = (page.last as number | undefined) ?? after;
      more = page.more === true;
    }
    expect(stored.length).toBeGreaterThanOrEqual(150);
    for (const seq of [...onSurvivor.acks(), ...onDoomed.acks()]) expect(stored).toContain(seq);

    const last = stored.at(-1) as number;
    for (const r of receivers) {
      const resumed = r.resumed as TestClient;
      await until(() => seqsOf(resumed, ROOM).at(-1) === last, `${r.user} to reach the last message`);
      const everything = [...seqsOf(r.client, ROOM), ...seqsOf(resumed, ROOM)];
      expect(everything).toEqual(stored.filter((seq) => seq > r.start));
      expect(resumed.all('error')).toEqual([]);
    }
  });
});
