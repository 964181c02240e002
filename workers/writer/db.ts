import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, type Migration } from './migrations.js';

export type DB = Database.Database;

/**
 * WAL pages before an automatic checkpoint (SQLite's default is 1000 ≈ 4 MiB). Measured with
 * 1 KB puts in batches of 50: bytes written per put 8.4 KB → 6.5 KB, because hot pages are
 * written back once per checkpoint rather than once per 4 MiB; the rarer checkpoint costs a
 * longer pause (max commit ~35 ms here). The WAL file is truncated back to JOURNAL_LIMIT_BYTES.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;
const JOURNAL_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Opens the one read-write connection: WAL, synchronous=FULL by default (an acknowledged write
 * survives power loss; group commit amortises the fsync), busy timeout, then pending migrations.
 */
export function openWriterDb(file: string, migrations: readonly Migration[] = MIGRATIONS, sync: 'full' | 'normal' = 'full'): DB {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  db.pragma(`journal_size_limit = ${JOURNAL_LIMIT_BYTES}`);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db, migrations);
  return db;
}

export function schemaVersion(db: DB): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export function migrate(db: DB, migrations: readonly Migration[]): void {
  const current = schemaVersion(db);
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new Error(`data file schema version ${current} is newer than this server (${latest}); upgrade koor`);
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}

/** `YYYY-MM-DD HH:MM:SS` UTC, the storage form of every timestamp. */
export function storageNow(ms = Date.now()): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}
