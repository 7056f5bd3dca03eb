import { nuid } from '@nats-io/nuid';

/**
 * A new connection or message id: 22 characters, unique across processes (a random prefix per
 * process, then a sequence with random steps: NATS's NUID). Shorter than a UUID, which matters
 * in every delivered frame, and cheaper to make. Not a secret: ids are not credentials.
 */
export function newId(): string {
  return nuid.next();
}
