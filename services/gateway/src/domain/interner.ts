/**
 * Shares one instance among equal values: thousands of sessions of a tenant carry the same
 * grants, limits and origins, and each would otherwise hold its own copy. Bounded: past `max`
 * entries the oldest is forgotten (sessions keep theirs; only sharing is lost).
 */
export function createInterner<T>(max: number) {
  const entries = new Map<string, T>();
  return (key: string, make: () => T): T => {
    const known = entries.get(key);
    if (known !== undefined) return known;
    const value = make();
    if (entries.size >= max) entries.delete(entries.keys().next().value!);
    entries.set(key, value);
    return value;
  };
}
