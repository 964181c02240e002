import Database from 'better-sqlite3';
import type { WriterLimits } from '../../../schemas/rpc/writer.js';
import { MIGRATIONS, type Migration } from '../../../schemas/db/sqlite-migrations.js';
import { WRITER_PAGE_CACHE_KIB } from '../../../src/shared/limits.js';
import { applyHistoryMode } from './history-mode.js';

export type DB = Database.Database;

/**
 * Opens the one read-write connection: WAL, synchronous=FULL by default (an acknowledged write
 * survives power loss; group commit amortises the fsync), busy timeout, then pending migrations.
 */
export function openWriterDb(
  file: string,
  /** The front process's values (src/shared/limits.ts, WRITER_LIMITS): the writer has no defaults of its own. */
  limits: WriterLimits,
  /** `historyKeep`: --state-history-keep, the way the file finds versions is set for (history-mode.ts); absent, left as it is. */
  opts: { migrations?: readonly Migration[]; sync?: 'full' | 'normal'; log?: NoticeLog; historyKeep?: number } = {},
): DB {
  const { migrations = MIGRATIONS, sync = 'full', log } = opts;
  // The directory is the front process's job (it checks it without trusting recursive mkdir).
  const db = new Database(file);
  enableIncrementalVacuum(db, limits.vacuum_convert_max_bytes, log);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.pragma(`wal_autocheckpoint = ${limits.wal_autocheckpoint_pages}`);
  db.pragma(`journal_size_limit = ${limits.journal_limit_bytes}`);
  db.pragma(`busy_timeout = ${limits.busy_timeout_ms}`);
  db.pragma('foreign_keys = ON');
  db.pragma(`cache_size = -${WRITER_PAGE_CACHE_KIB}`);
  // Each envelope runs in a savepoint; SQLite keeps a savepoint's page images in a sub-journal
  // that spills to a temp file past 64 KiB, which a batch of 1 KB writes always did: a pwrite
  // per page touched, ~15 % of the writer's CPU on a PUT burst. In memory the images are bounded
  // by what one envelope touches (the sub-journal is emptied at each RELEASE).
  db.pragma('temp_store = MEMORY');
  migrate(db, migrations, log);
  if (opts.historyKeep !== undefined) {
    const t0 = Date.now();
    const done = applyHistoryMode(db, opts.historyKeep);
    // A new file (made with the index by its migrations, no key yet) is set without a word.
    if (done.converted === 'index' || done.keys > 0) log?.info({ ...done, keep: opts.historyKeep, ms: Date.now() - t0 }, 'the version log set for --state-history-keep');
  }
  return db;
}

/** PRAGMA auto_vacuum value of INCREMENTAL. */
const AUTO_VACUUM_INCREMENTAL = 2;

/**
 * Freed pages can go back to the file system only with auto_vacuum = INCREMENTAL.
 * A new file gets it before its first table; a file made by an older server is rebuilt once
 * (VACUUM, roughly a second per few hundred MB, logged), after which it is never needed again.
 */
function enableIncrementalVacuum(db: DB, maxBytes: number, log?: NoticeLog): void {
  if (db.pragma('auto_vacuum', { simple: true }) === AUTO_VACUUM_INCREMENTAL) return;
  db.pragma('auto_vacuum = INCREMENTAL');
  const hasTables = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get() as number;
  if (hasTables === 0) return; // takes effect as the first table is created
  const bytes = (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
  if (bytes > maxBytes) {
    // Too long for start-up (and it needs as much free disk again): the operator runs it once.
    log?.warn({ bytes }, 'data file predates incremental vacuum: freed space is reused but not returned to the file system; stop the server and run `koor-server --vacuum` once');
    return;
  }
  log?.info({ bytes }, 'one-time VACUUM of a data file from an older server, so freed space can be returned');
  try {
    db.exec('VACUUM');
  } catch (err) {
    // Not fatal (a full disk, typically): the server runs, space is reused, just not returned.
    log?.warn({ err }, 'one-time VACUUM failed; continuing without returning freed space');
  }
}

/** Where the opener reports what it did to an older file. */
export interface NoticeLog {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** Returns up to `pages` free pages to the file system; what is left free after. */
export function vacuumStep(db: DB, pages: number): { freed: number; free_pages: number; page_count: number; page_size: number } {
  const before = db.pragma('freelist_count', { simple: true }) as number;
  if (before > 0 && pages > 0) db.pragma(`incremental_vacuum(${pages})`);
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return { freed: before - free, free_pages: free, page_count: db.pragma('page_count', { simple: true }) as number, page_size: db.pragma('page_size', { simple: true }) as number };
}

export function schemaVersion(db: DB): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function migrate(db: DB, migrations: readonly Migration[], log?: NoticeLog): void {
  const current = schemaVersion(db);
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new Error(`data file schema version ${current} is newer than this server (${latest}); upgrade koor`);
  }
  // A file from an older server (a new one has no version yet): an upgrade may copy a table, so it is said.
  const upgrading = current > 0 && current < latest;
  const t0 = Date.now();
  if (upgrading) log?.info({ from: current, to: latest }, 'upgrading the data file from an older server');
  // A new file takes every migration in one transaction: one commit (one fsync at --sync full),
  // not one per version, and nothing in it to erase.
  if (current === 0 && latest > 0) {
    db.transaction(() => {
      for (const m of migrations) {
        db.exec(m.sql);
        m.run?.(db);
      }
      db.pragma(`user_version = ${latest}`);
    }).immediate();
    return;
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    if (m.run) db.pragma('secure_delete = ON');
    db.transaction(() => {
      db.exec(m.sql);
      m.run?.(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
    if (m.run) db.pragma('secure_delete = OFF');
  }
  if (upgrading) log?.info({ from: current, to: latest, ms: Date.now() - t0 }, 'data file upgraded');
}
