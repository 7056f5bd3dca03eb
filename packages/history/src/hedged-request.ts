import { TimeoutError } from '@nats-io/transport-node';

export interface HedgeOptions<T> {
  /** A copy still unanswered this long gets another one. */
  afterMs: number;
  /** Copies in all, the first included. */
  max: number;
  /** From the first copy: then the request fails with a `TimeoutError`. */
  timeoutMs: number;
  /** Receives every answer after the first (or after the deadline), to undo it. */
  discard(late: T): void;
}

/**
 * The first answer of up to `max` copies of `request`, a new copy every `afterMs` while none has
 * answered. No copy is abandoned early: each keeps the time left until `timeoutMs`. A refusal
 * fails the request only once no other copy is pending.
 */
export function hedged<T>(request: () => Promise<T>, options: HedgeOptions<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let launched = 0;
    let inFlight = 0;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearInterval(hedge);
      clearTimeout(deadline);
      outcome();
    };
    const launch = () => {
      launched++;
      inFlight++;
      request().then(
        (answer) => {
          inFlight--;
          if (settled) options.discard(answer);
          else finish(() => resolve(answer));
        },
        (error: unknown) => {
          if (--inFlight === 0) finish(() => reject(error));
        },
      );
    };
    const hedge = setInterval(() => {
      if (launched < options.max) launch();
    }, options.afterMs);
    const deadline = setTimeout(() => finish(() => reject(new TimeoutError())), options.timeoutMs);
    launch();
  });
}
