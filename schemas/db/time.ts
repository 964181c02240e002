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

/** Where the data's time comes from: this process's clock, or a cluster's database's (src/shared/pg-clock.ts). */
let source: () => number = Date.now;

/** The clock the data's time is read from from now on (a cluster node's threads: the database's). */
export function setDataClock(now: () => number): void {
  source = now;
}

/**
 * Now, epoch ms, as the data's times are judged and written: a lease's or a key's expiry, an
 * agent's last sign of life. One server: its own clock. A cluster: every node the database's, so
 * a node whose clock runs ahead or behind neither ends another node's lease early nor grants one
 * that ends at once.
 */
export function dataNow(): number {
  return source();
}

/** `ms` (now by default) as storage text; a burst of writes in one second formats it once. */
export function storageNow(ms = dataNow()): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== nowSec) {
    nowSec = sec;
    nowText = toStorage(sec * 1000);
  }
  return nowText;
}
let nowSec = -1;
let nowText = '';
