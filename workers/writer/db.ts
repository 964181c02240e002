import Database from 'better-sqlite3';
import type { WriterLimits } from '../../schemas/rpc/writer.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export type DB = Database.Database;

/** The values src/limits.ts gives the writer; tests and benches that open a DB directly use these. */
export const DEFAULT_WRITER_LIMITS: WriterLimits = {
  max_batch_envelopes: 2000,
  wal_autocheckpoint_pages: 10_000,
  journal_limit_bytes: 64 * 1024 * 1024,
  busy_timeout_ms: 5000,
};

/**
 * Opens the one read-write connection: WAL, synchronous=FULL by default (an acknowledged write
 * survives power loss; group commit amortises the fsync), busy timeout, then pending migrations.
 */
export function openWriterDb(
  file: string,
  migrations: readonly Migration[] = MIGRATIONS,
  sync: 'full' | 'normal' = 'full',
  limits: WriterLimits = DEFAULT_WRITER_LIMITS,
): DB {
  // The directory is the front process's job (it checks it without trusting recursive mkdir).
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.pragma(`wal_autocheckpoint = ${limits.wal_autocheckpoint_pages}`);
  db.pragma(`journal_size_limit = ${limits.journal_limit_bytes}`);
  db.pragma(`busy_timeout = ${limits.busy_timeout_ms}`);
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
