/**
 * Memos bounded in entries (compiled globs, token hashes, identity misses, a node's per-session
 * positions): one that holds `max` entries is forgotten whole before a new key goes in. What it
 * held is rebuilt on demand; keeping recency per entry would cost every hit, and a memo this
 * size is full only when something is wrong (a flood of distinct keys).
 */
export function setBounded<K, V>(m: Map<K, V>, k: K, v: V, max: number): void {
  if (m.size >= max && !m.has(k)) m.clear();
  m.set(k, v);
}

/** A set bounded the same way (see setBounded). */
export function addBounded<K>(s: Set<K>, k: K, max: number): void {
  if (s.size >= max && !s.has(k)) s.clear();
  s.add(k);
}
