import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError } from './config.js';
import { inspectSnapshot, SnapshotError, type SnapshotInfo } from './shared/snapshot.js';
import { RESTORE_MARK } from '../schemas/db/tables/state.js';

const WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  ENOENT: 'no such file or directory',
  EDQUOT: 'disk quota exceeded',
};

const reason = (e: unknown): string => {
  const err = e as NodeJS.ErrnoException;
  return err.code === undefined ? err.message : WORDS[err.code] ? `${WORDS[err.code]} (${err.code})` : err.code;
};

/**
 * Makes sure `dir` exists and can hold a database, or throws one clear ConfigError. Never trusts
 * `mkdirSync({ recursive: true })`: on /proc and similar file systems it loops forever at 100 %
 * CPU. Instead: find the nearest existing ancestor, check it is a directory, create the missing
 * levels one at a time (0700), then prove the directory is writable by creating a file in it
 * (`access(W_OK)` says yes to root on a read-only mount's permission bits, and to nobody else).
 */
export function ensureDataDir(dir: string): void {
  const fail = (why: string): never => {
    throw new ConfigError(`data directory ${dir} cannot hold a database: ${why}`);
  };
  const missing: string[] = [];
  for (let p = path.resolve(dir); ; ) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: some ancestor is a file; keep walking up to name it.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return fail(`${p}: ${reason(e)}`);
      missing.push(p);
      const parent = path.dirname(p);
      if (parent === p) return fail('no existing parent directory');
      p = parent;
      continue;
    }
    if (!st.isDirectory()) return fail(`${p} is not a directory`);
    break;
  }
  for (const p of missing.reverse()) {
    try {
      fs.mkdirSync(p, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(p).isDirectory()) continue;
      return fail(`cannot create ${p}: ${reason(e)}`);
    }
  }
  const probe = path.join(dir, `.koor-write-check-${process.pid}`);
  try {
    fs.writeFileSync(probe, '');
  } catch (e) {
    return fail(`not writable: ${reason(e)}`);
  }
  fs.rmSync(probe, { force: true });
}

/** The file whose lock says "a koor-server owns this data directory". */
const LOCK_FILE = 'koor.lock';

/**
 * Takes the data directory for this process, or throws a ConfigError naming it when another
 * koor-server (on any port) already has it: two servers on one data file would each serve from
 * their own cache and disagree. The lock is an exclusive SQLite transaction on `koor.lock`, held
 * until release(): the operating system drops it when the process dies (kill -9 included), so
 * a crash never leaves a stale lock behind.
 */
export function lockDataDir(dir: string): { release: () => void } {
  const file = path.join(dir, LOCK_FILE);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: 0 });
    db.pragma('journal_mode = DELETE');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    db?.close();
    const code = (e as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new ConfigError(`data directory ${dir} is in use by another koor-server (${file} is locked)`);
    }
    throw new ConfigError(`data directory ${dir} cannot be locked: ${(e as Error).message}`);
  }
  const held = db;
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      try {
        held.exec('ROLLBACK');
      } finally {
        held.close();
      }
    },
  };
}

/**
 * `koor-server --vacuum` (no server running on this directory): rebuilds data.db with incremental
 * vacuum on and every free page returned. For data files from before retention that were too
 * large to convert at start. Throws ConfigError with one line on failure.
 */
export function vacuumDataDir(dir: string): { before: number; after: number } {
  const file = path.join(dir, 'data.db');
  if (!fs.existsSync(file)) throw new ConfigError(`no data file at ${file}`);
  const lock = lockDataDir(dir);
  try {
    const db = new Database(file, { fileMustExist: true });
    try {
      const size = () => (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
      const before = size();
      db.pragma('auto_vacuum = INCREMENTAL');
      db.exec('VACUUM');
      return { before, after: size() };
    } finally {
      db.close();
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`vacuum of ${file} failed: ${(e as Error).message}`);
  } finally {
    lock.release();
  }
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The ids a data file has handed out: its AUTOINCREMENT sequences, and its newest state revision (0: none). */
interface HandedOut {
  sequences: Array<{ name: string; seq: number }>;
  revision: number;
}

const hasTable = (db: Database.Database, name: string): boolean => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;

function handedOut(db: Database.Database): HandedOut {
  return {
    sequences: hasTable(db, 'sqlite_sequence') ? (db.prepare('SELECT name, seq FROM sqlite_sequence').all() as HandedOut['sequences']) : [],
    revision: hasTable(db, 'state_changes') ? ((db.prepare('SELECT max(id) FROM state_changes').pluck().get() as number | null) ?? 0) : 0,
  };
}

/**
 * The restored file goes on after the ids the replaced one handed out: event ids, task and
 * message ids, state revisions (a restore mark, RESTORE_MARK). Clients resume a stream after the
 * last id they saw (events, watches, inboxes) and skip ids they saw; ids handed out again would
 * be new items they never get. The ids between the backup's and the replaced file's name nothing
 * (as etcd bumps its revision on a snapshot restore). Done on the backup's own schema, before
 * the server migrates it: only tables it has.
 */
function continueIds(file: string, handed: HandedOut): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.transaction(() => {
      if (hasTable(db, 'sqlite_sequence')) {
        for (const { name, seq } of handed.sequences) {
          if (db.prepare('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?').run(seq, name).changes === 0 && hasTable(db, name)) {
            db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(name, seq);
          }
        }
      }
      if (hasTable(db, 'state_changes')) {
        const newest = (db.prepare('SELECT max(id) FROM state_changes').pluck().get() as number | null) ?? 0;
        if (handed.revision > newest) db.prepare(RESTORE_MARK.sqlite).run(handed.revision, newest);
      }
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/**
 * `koor-server --restore FILE` (server stopped): checks FILE is an intact Koor backup this
 * version can open, keeps the current data.db aside as `data.db.before-restore-<stamp>` (its WAL
 * folded in first), and puts a copy of FILE in its place (through SQLite's backup API, so a
 * file with a WAL of its own is copied whole). Its ids go on after the current file's
 * (continueIds). The next start applies any newer migrations.
 */
export async function restoreDataDir(dir: string, from: string): Promise<{ info: SnapshotInfo; keptAs: string | null }> {
  const file = path.join(dir, 'data.db');
  if (path.resolve(from) === path.resolve(file)) throw new ConfigError(`${from} is the current data file; restore from a copy`);
  let info: SnapshotInfo;
  try {
    info = inspectSnapshot(from);
  } catch (e) {
    throw new ConfigError(e instanceof SnapshotError ? e.message : `cannot read ${from}: ${(e as Error).message}`);
  }
  ensureDataDir(dir);
  const lock = lockDataDir(dir);
  const tmp = `${file}.restoring`;
  let keptAs: string | null = null;
  try {
    let handed: HandedOut | null = null;
    if (fs.existsSync(file)) {
      const db = new Database(file, { fileMustExist: true });
      try {
        db.pragma('wal_checkpoint(TRUNCATE)');
        handed = handedOut(db);
      } finally {
        db.close();
      }
      // Never an existing name: two restores within a second (or one from a kept file) would
      // otherwise rename the current file over the one kept before, or over the very file restored from.
      const stamp = `${file}.before-restore-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
      keptAs = stamp;
      for (let n = 1; fs.existsSync(keptAs); n++) keptAs = `${stamp}.${n}`;
      fs.renameSync(file, keptAs);
      for (const ext of ['-wal', '-shm']) fs.rmSync(`${file}${ext}`, { force: true });
    }
    const src = new Database(from, { readonly: true, fileMustExist: true });
    try {
      await src.backup(tmp, { progress: () => 0x7fffffff });
    } finally {
      src.close();
    }
    if (handed !== null) continueIds(tmp, handed);
    fsyncPath(tmp);
    fs.renameSync(tmp, file);
    fsyncPath(dir);
    return { info, keptAs };
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    // Put the previous file back: a failed restore leaves the data as it was.
    if (keptAs !== null && !fs.existsSync(file)) fs.renameSync(keptAs, file);
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`restore into ${dir} failed: ${reason(e)}`);
  } finally {
    lock.release();
  }
}

