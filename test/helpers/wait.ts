/**
 * Waits until `check` holds (or returns a value that is not false/undefined), polling every
 * `everyMs`, for at most `timeoutMs`; then fails naming `what`. Tests wait on what they can
 * observe rather than sleeping for a guessed time.
 */
export async function waitUntil<T>(what: string, check: () => T | false | undefined | Promise<T | false | undefined>, timeoutMs = 10_000, everyMs = 20): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== false && v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
