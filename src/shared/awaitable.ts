/**
 * What a reader returns: the value itself from SQLite (a synchronous read on the front's own
 * connection), a promise of it from PostgreSQL (cluster mode). Callers `await` it; the hot paths
 * (a cached GET, a token's identity) use `then`, so SQLite's answer stays synchronous.
 */
export type Awaitable<T> = T | Promise<T>;

/** `f` of an awaitable: at once for a value (SQLite), once it resolves for a promise (PostgreSQL). */
export function then<T, U>(v: Awaitable<T>, f: (x: T) => Awaitable<U>): Awaitable<U> {
  return pending(v) ? v.then(f) : f(v);
}

/** Whether the answer is still to come (PostgreSQL), for a caller whose next step depends on it. */
export function pending<T>(v: Awaitable<T>): v is Promise<T> {
  return v instanceof Promise;
}
