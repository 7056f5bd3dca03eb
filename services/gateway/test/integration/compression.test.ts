import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, type TestClient } from '@parley/testkit';
import { createTestKeys, mintToken, startTestGateway, type TestGateway, type TestKeys } from '../support.ts';
import { until } from '../history-support.ts';

/** Bytes the client has read from its TCP socket so far (what crossed the wire). */
const wireBytes = (client: TestClient) => (client.ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;

async function metric(gw: TestGateway, name: string, label = '') {
  const line = (await gw.registry.metrics()).split('\n').find((l) => l.startsWith(name) && l.includes(label));
  return Number(line?.split(' ').pop() ?? 0);
}

describe('WebSocket compression (PARLEY_WS_COMPRESSION=on)', () => {
  let keys: TestKeys;
  let gw: TestGateway;
  const clients: TestClient[] = [];
  const connect = async (user: string, perMessageDeflate: boolean) => {
    const client = await connectClient(gw.wsUrl, { token: await mintToken(keys, { sub: user }), perMessageDeflate });
    clients.push(client);
    await client.waitFor('welcome');
    return client;
  };

  beforeAll(async () => {
    keys = await createTestKeys();
    gw = await startTestGateway(keys, { compression: 'on' });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw.gateway.close();
  });

  it('compression - compressed and uncompressed clients share a room; large frames cross the wire compressed to those that negotiated it', async () => {
    const deflating = await connect('dee', true);
    const plain = await connect('pat', false);
    expect(deflating.ws.extensions).toContain('permessage-deflate');
    expect(plain.ws.extensions).toBe('');
    expect(await metric(gw, 'parley_gateway_compressed_connections_total')).toBeGreaterThanOrEqual(1);
    await deflating.request({ type: 'join', room: 'mixed' });
    await plain.request({ type: 'join', room: 'mixed' });

    const text = 'the same sentence, again and again. '.repeat(200);
    const [deflatingBefore, plainBefore] = [wireBytes(deflating), wireBytes(plain)];
    for (let i = 0; i < 10; i++) await plain.request({ type: 'publish', room: 'mixed', data: { i, text } });
    const received = (c: TestClient) => c.all('message').filter((m) => m.room === 'mixed');
    await until(() => received(deflating).length === 10 && received(plain).length === 10, 'ten messages for both members');
    expect(received(deflating).map((m) => (m.data as { text: string }).text)).toEqual(Array(10).fill(text));
    expect(received(plain).map((m) => (m.data as { i: number }).i)).toEqual([...Array(10).keys()]);
    const [deflatingWire, plainWire] = [wireBytes(deflating) - deflatingBefore, wireBytes(plain) - plainBefore];
    expect(plainWire).toBeGreaterThan(10 * text.length);
    expect(deflatingWire).toBeLessThan(plainWire / 5);

    // Small frames and frames from the compressed client work both ways too.
    await deflating.request({ type: 'publish', room: 'mixed', data: 'hi' });
    await until(() => received(plain).some((m) => m.data === 'hi'), 'the small message from the compressed client');
  });

  it('compression - a compressed frame that inflates beyond the payload limit closes only that socket (uWebSockets.js cuts it: 1006), counted as frame_too_large', async () => {
    const bomber = await connect('bomb', true);
    const bystander = await connect('by', false);
    await bystander.request({ type: 'join', room: 'calm' });
    // 4 MiB of one letter deflates to about 4 KiB: far below the 64 KiB limit on the wire.
    bomber.ws.send(JSON.stringify({ type: 'publish', room: 'calm', data: 'x'.repeat(4 * 1024 * 1024) }), { compress: true });
    expect((await bomber.closed).code).toBe(1006);
    await until(async () => (await metric(gw, 'parley_gateway_connections_closed_total', 'reason="frame_too_large"')) >= 1, 'the close counted as frame_too_large');
    expect(bystander.all('message')).toEqual([]);
    expect(await bystander.request({ type: 'publish', room: 'calm', data: 'still here' })).toMatchObject({ type: 'ack' });
    await until(() => bystander.all('message').some((m) => m.data === 'still here'), 'the bystander still served');
  });

  it('compression - frames kept before welcome are bounded in inflated bytes: small on the wire, over 64 KiB inflated, the socket closes with 4103', async () => {
    // Token verification never ends here (a key fetch that hangs): every frame is early for sure.
    const slow = await startTestGateway(keys, { compression: 'on', verificationGate: () => new Promise<void>(() => {}) });
    try {
      const eager = await connectClient(slow.wsUrl, { token: await mintToken(keys, { sub: 'eager' }), perMessageDeflate: true });
      clients.push(eager);
      const padding = 'y'.repeat(40 * 1024);
      for (let i = 0; i < 2; i++) eager.ws.send(JSON.stringify({ type: 'publish', room: 'early', data: padding, id: i }), { compress: true });
      expect((await eager.closed).code).toBe(4103);
      expect(eager.all('ack')).toEqual([]);
      expect(eager.all('welcome')).toEqual([]);
    } finally {
      await slow.gateway.close();
    }
  });
});

describe('WebSocket compression (PARLEY_WS_COMPRESSION=tenant)', () => {
  let keys: TestKeys;
  let gw: TestGateway;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    keys = await createTestKeys();
    gw = await startTestGateway(keys, { compression: 'tenant' });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gw.gateway.close();
  });

  it('compression - only clients of tenants with compression on (token claim cmp) negotiate it, though all offer it', async () => {
    const on = await connectClient(gw.wsUrl, { token: await mintToken(keys, { sub: 'a', ns: 'squeezed', cmp: true }), perMessageDeflate: true });
    const off = await connectClient(gw.wsUrl, { token: await mintToken(keys, { sub: 'b', ns: 'plain' }), perMessageDeflate: true });
    clients.push(on, off);
    await Promise.all([on.waitFor('welcome'), off.waitFor('welcome')]);
    expect(on.ws.extensions).toContain('permessage-deflate');
    expect(off.ws.extensions).toBe('');
  });

  it('compression - a garbled token is refused as before, whatever it claims', async () => {
    const forged = await connectClient(gw.wsUrl, { token: `x.${Buffer.from('{"cmp":true}').toString('base64url')}.y`, perMessageDeflate: true });
    clients.push(forged);
    expect(await forged.waitFor('error')).toMatchObject({ code: 'token_invalid' });
    expect((await forged.closed).code).toBe(4100);
  });
});
