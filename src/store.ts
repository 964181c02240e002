import Database from 'better-sqlite3';

export type ReadDb = Database.Database;

export type { Awaitable } from './backend/awaitable.js';

/**
 * The front process's read-only connection (WAL readers never block the writer). Point reads
 * are microseconds; anything heavier goes to the pool.
 */
export function openReader(file: string): ReadDb {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Storage text `YYYY-MM-DD HH:MM:SS` → RFC 3339 UTC `YYYY-MM-DDTHH:MM:SSZ`. */
export function toRfc3339(storage: string): string {
  return storage.length === 19 ? `${storage.slice(0, 10)}T${storage.slice(11)}Z` : storage;
}

/** An instant (epoch ms) as storage text `YYYY-MM-DD HH:MM:SS` UTC (1 s precision, SPEC §1.4). */
export function toStorage(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}
