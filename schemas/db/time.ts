/**
 * Timestamps as every table stores them, `YYYY-MM-DD HH:MM:SS` UTC (1 s precision), and as
 * replies and event data show them, RFC 3339 `YYYY-MM-DDTHH:MM:SSZ`: one pair of conversions for
 * the writer and the front.
 */

/** Storage text → RFC 3339 UTC (anything not storage text as it is). */
export function toRfc3339(storage: string): string {
  return storage.length === 19 ? `${storage.slice(0, 10)}T${storage.slice(11)}Z` : storage;
}

/** An instant (epoch ms) as storage text. */
export function toStorage(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** `ms` (now by default) as storage text; a burst of writes in one second formats it once. */
export function storageNow(ms = Date.now()): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== nowSec) {
    nowSec = sec;
    nowText = toStorage(sec * 1000);
  }
  return nowText;
}
let nowSec = -1;
let nowText = '';
