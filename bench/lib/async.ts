/** Waiting, bounded: a deadline on a promise, a pause, a pool of work, a fetch that survives an idle close. */

/** Promise that rejects after `ms` with `what` in the message. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * fetch (which keeps connections alive), sent once more when the connection it went out on was
 * one the server closed while idle — uWS closes a connection idle for 10 s, as a probe's is
 * across the wrk runs between two probes — and undici failed it ("other side closed",
 * ECONNRESET). Only a request that may be repeated: a GET, or one carrying an Idempotency-Key.
 */
export async function fetchPastIdleClose(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    const closedIdle = /other side closed|ECONNRESET/.test(String((e as { cause?: unknown }).cause));
    const repeatable = (init.method ?? 'GET') === 'GET' || new Headers(init.headers).has('idempotency-key');
    if (!closedIdle || !repeatable) throw e;
    return fetch(url, init);
  }
}

/** Runs `fn` over `items` with at most `width` in flight. */
export async function pooled<T>(items: readonly T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}
