/**
 * Token expiry for every session with one timer: items are kept in buckets by the second they
 * expire in, and a tick every second hands over the due ones. An item expires within a second
 * after its `exp`; a timer per connection would cost more memory than the connection's socket.
 */
export function createExpiryWheel<T>(onExpired: (item: T) => void, tickMs = 1000) {
  const buckets = new Map<number, Set<T>>();
  const tick = () => {
    const now = Date.now() / 1000;
    for (const [exp, items] of buckets) {
      if (exp > now) continue;
      buckets.delete(exp);
      for (const item of items) onExpired(item);
    }
  };
  const timer = setInterval(tick, tickMs);
  timer.unref();
  return {
    /** `exp` in seconds since the epoch, as in a JWT. */
    add(item: T, exp: number) {
      let items = buckets.get(exp);
      if (!items) buckets.set(exp, (items = new Set()));
      items.add(item);
    },
    remove(item: T, exp: number) {
      const items = buckets.get(exp);
      if (items?.delete(item) && items.size === 0) buckets.delete(exp);
    },
    size() {
      let n = 0;
      for (const items of buckets.values()) n += items.size;
      return n;
    },
    close() {
      clearInterval(timer);
    },
  };
}

export type ExpiryWheel<T> = ReturnType<typeof createExpiryWheel<T>>;
