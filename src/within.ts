/**
 * `p`, or a rejection once `ms` passed: "<what> took longer than N s", with `code` when given (the
 * timer never keeps the process alive).
 */
export function within<T>(p: Promise<T> | T, ms: number, what: string, code?: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} took longer than ${ms / 1000} s`), code === undefined ? {} : { code })), ms);
    timer.unref();
  });
  return Promise.race([Promise.resolve(p), timeout]).finally(() => clearTimeout(timer));
}

/**
 * `p`'s value, or `late()`'s once `ms` passed (`p` then runs on; a later rejection of it is
 * nobody's and is dropped, not left unhandled).
 */
export function orElse<T>(p: Promise<T>, ms: number, late: () => T): Promise<T> {
  p.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const fallback = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(late()), Math.max(0, ms));
    timer.unref();
  });
  return Promise.race([p, fallback]).finally(() => clearTimeout(timer));
}
