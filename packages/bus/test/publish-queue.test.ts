import { describe, expect, it } from 'vitest';
import { createPublishQueue } from '../src/publish-queue.ts';

const tick = () => new Promise((r) => setImmediate(r));

function recording() {
  const written: string[] = [];
  const errors: unknown[] = [];
  const queue = createPublishQueue<string>(
    (subject, data, headers) => {
      if (subject === 'refused') throw new Error('refused by the client');
      written.push(`${subject}:${data[0]}${headers ? `:${headers}` : ''}`);
    },
    (error) => errors.push(error),
  );
  return { queue, written, errors };
}

describe('publish queue', () => {
  it('publish queue - the messages of one turn are written together after it, in order', async () => {
    const { queue, written } = recording();
    for (let i = 0; i < 5; i++) {
      queue.push('room.a', Uint8Array.of(i), i === 2 ? 'h' : undefined);
      await null; // a microtask checkpoint, as uWebSockets.js runs after every frame
    }
    expect(written).toEqual([]);
    expect(queue.size).toBe(5);
    await tick();
    expect(written).toEqual(['room.a:0', 'room.a:1', 'room.a:2:h', 'room.a:3', 'room.a:4']);
    expect(queue.size).toBe(0);
  });

  it('publish queue - writeAll writes at once (what must follow goes after), and the scheduled write finds nothing left', async () => {
    const { queue, written } = recording();
    queue.push('room.a', Uint8Array.of(1), undefined);
    queue.push('room.b', Uint8Array.of(2), undefined);
    expect(queue.writeAll()).toBeUndefined();
    written.push('PING');
    queue.push('room.c', Uint8Array.of(3), undefined);
    await tick();
    expect(written).toEqual(['room.a:1', 'room.b:2', 'PING', 'room.c:3']);
  });

  it('publish queue - discard forgets the queued messages', async () => {
    const { queue, written } = recording();
    queue.push('room.a', Uint8Array.of(1), undefined);
    queue.discard();
    await tick();
    expect(written).toEqual([]);
    queue.push('room.a', Uint8Array.of(2), undefined);
    await tick();
    expect(written).toEqual(['room.a:2']);
  });

  it('publish queue - a refused write is reported (to writeAll or, when scheduled, to onWriteError) and the others are still written', async () => {
    const { queue, written, errors } = recording();
    queue.push('refused', Uint8Array.of(0), undefined);
    queue.push('room.a', Uint8Array.of(1), undefined);
    expect((queue.writeAll() as Error).message).toBe('refused by the client');
    queue.push('room.b', Uint8Array.of(2), undefined);
    queue.push('refused', Uint8Array.of(0), undefined);
    await tick();
    expect(written).toEqual(['room.a:1', 'room.b:2']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['refused by the client']);
  });
});
