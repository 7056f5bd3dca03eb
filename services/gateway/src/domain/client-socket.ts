/** What the domain needs from a transport socket. Calls after close are ignored by the transport. */
export interface ClientSocket {
  readonly closed: boolean;
  send(data: string | Uint8Array): void;
  /**
   * Sends at the end of the current JavaScript turn, in one write with the other frames batched
   * for this socket meanwhile (a later `send` writes them first). For frames whose order against
   * fan-out is not promised, acks: a client with many publishes in flight gets the acks that one
   * bus confirmation settles in one system call instead of one each.
   */
  sendBatched(data: string | Uint8Array): void;
  /** Bytes queued on the socket and not yet written. */
  bufferedAmount(): number;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  end(code: number, reason: string): void;
}
