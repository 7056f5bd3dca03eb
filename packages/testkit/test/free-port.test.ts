import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, holdPort, onAFreePort, startNats, startRedisWith } from '../src/index.ts';

function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (d) => (socket.destroy(), resolve(d.toString())));
    socket.once('error', reject);
  });
}

describe('free ports', () => {
  it('free ports - a redis-server whose port was taken after it was chosen starts on another one', async () => {
    const taken = await holdPort();
    const offered = [taken.port];
    const redis = await onAFreePort((port) => startRedisWith(port), async () => offered.shift() ?? freePort());
    try {
      expect(redis.port).not.toBe(taken.port);
      expect(await ping(redis.port)).toBe('+PONG\r\n');
    } finally {
      await redis.stop();
      taken.server.close();
    }
  });

  it('free ports - a server on a port given by the test is not moved: a taken port fails with the reason', async () => {
    const taken = await holdPort();
    try {
      await expect(startNats({ port: taken.port })).rejects.toThrow(/address already in use/i);
    } finally {
      taken.server.close();
    }
  });
});
