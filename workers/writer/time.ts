/** Timestamps as every table stores them. */

/** Storage text `YYYY-MM-DD HH:MM:SS` → RFC 3339 `YYYY-MM-DDTHH:MM:SSZ`, for event data. */
export function rfc3339(storage: string): string {
  return `${storage.slice(0, 10)}T${storage.slice(11)}Z`;
}

/** `YYYY-MM-DD HH:MM:SS` UTC, the storage form of every timestamp. */
export function storageNow(ms = Date.now()): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== nowSec) {
    nowSec = sec;
    nowText = new Date(sec * 1000).toISOString().slice(0, 19).replace('T', ' ');
  }
  return nowText;
}
/** The last second storageNow formatted (a burst of writes formats it once). */
let nowSec = -1;
let nowText = '';
