/**
 * The publishes of one turn of the event loop, handed to the NATS client together at its end
 * (`setImmediate`, after every socket event of the turn was handled). The client writes its
 * buffer to the socket once per microtask checkpoint, and uWebSockets.js runs a checkpoint after
 * every frame it hands to JavaScript: published as they come, a gateway makes one `write` system
 * call per client message (and the server one read), which measured ~20 % of a busy gateway's
 * CPU. Queued, the messages of a turn leave in one write.
 *
 * Order is kept: messages are written in the order they were queued, and `writeAll` is called
 * before anything that must follow them on the connection (the PING of a flush).
 */
export interface PublishQueue<H> {
  push(subject: string, data: Uint8Array, headers: H | undefined): void;
  /** Writes every queued message now. Returns the first error the writer threw, if any (the rest are still written). */
  writeAll(): unknown;
  /** Forgets the queued messages without writing them (the connection they were meant for is gone). */
  discard(): void;
  readonly size: number;
}

export type QueuedWrite<H> = (subject: string, data: Uint8Array, headers: H | undefined) => void;

/** `onWriteError` hears of a writer's error in a scheduled write (no caller is on the stack to get it). */
export function createPublishQueue<H>(write: QueuedWrite<H>, onWriteError: (error: unknown) => void): PublishQueue<H> {
  let subjects: string[] = [];
  let payloads: Uint8Array[] = [];
  let headerSets: (H | undefined)[] = [];
  let scheduled = false;

  const writeAll = (): unknown => {
    const n = subjects.length;
    if (n === 0) return undefined;
    const [s, p, h] = [subjects, payloads, headerSets];
    subjects = [];
    payloads = [];
    headerSets = [];
    let failure: unknown;
    for (let i = 0; i < n; i++) {
      try {
        write(s[i]!, p[i]!, h[i]);
      } catch (error) {
        failure ??= error;
      }
    }
    return failure;
  };

  return {
    push(subject, data, headers) {
      subjects.push(subject);
      payloads.push(data);
      headerSets.push(headers);
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          const failure = writeAll();
          if (failure !== undefined) onWriteError(failure);
        });
      }
    },
    writeAll,
    discard() {
      subjects = [];
      payloads = [];
      headerSets = [];
    },
    get size() {
      return subjects.length;
    },
  };
}
