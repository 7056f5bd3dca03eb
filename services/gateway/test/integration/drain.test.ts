import { describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@parley/protocol';
import { connectClient } from '@parley/testkit';
import { createTestKeys, join, mintToken, startTestGateway } from '../support.ts';

describe('drain', () => {
  it('drain - readiness goes false, clients get reconnect, then close with 4000; new connections are refused', async () => {
    const keys = await createTestKeys();
    const { gateway, wsUrl } = await startTestGateway(keys);
    const c = await join(wsUrl, await mintToken(keys), ['lobby']);
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    const drained = gateway.drain(600);
    const notice = await c.waitFor('reconnect');
    expect(notice.reason).toBe('shutdown');
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(503);
    const late = await connectClient(wsUrl, { token: await mintToken(keys) });
    expect((await late.waitFor('error')).code).toBe('shutting_down');
    expect((await c.closed).code).toBe(CLOSE_CODES.shutdown);
    await drained;
  });
});
