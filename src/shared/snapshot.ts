import fs from 'node:fs';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../schemas/db/sqlite-migrations.js';

/** What a snapshot holds, as `koor-cli backup` and `restore` print it. */
export interface SnapshotCounts {
  state_keys: number;
  rules: number;
  specs: number;
  events: number;
  instances: number;
}

export interface SnapshotInfo {
  /** Schema version (PRAGMA user_version): the newest migration applied. */
  version: number;
  bytes: number;
  counts: SnapshotCounts;
}

/** A file that is not a Koor snapshot this server can restore; the message says why. */
export class SnapshotError extends Error {}

const HEADER = Buffer.from('SQLite format 3\0', 'latin1');
const NEWEST_SCHEMA = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** true when the file starts like an SQLite database (as opposed to the original's JSON backup). */
function looksLikeSqlite(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(HEADER.length);
    return fs.readSync(fd, head, 0, head.length, 0) === head.length && head.equals(HEADER);
  } finally {
    fs.closeSync(fd);
  }
}

const count = (db: Database.Database, table: string): number => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

/**
 * Checks that `file` is an intact Koor database this version can open (SQLite header,
 * quick_check, a Koor schema no newer than ours) and counts what it holds. Read-only.
 */
export function inspectSnapshot(file: string, name = file): SnapshotInfo {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new SnapshotError(`cannot read ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw new SnapshotError(`${name} is not a file`);
  if (!looksLikeSqlite(file)) throw new SnapshotError(`${name} is not a Koor backup (not an SQLite database)`);
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new SnapshotError(`${name} cannot be opened: ${(e as Error).message}`);
  }
  try {
    let check: unknown;
    try {
      check = db.pragma('quick_check', { simple: true });
    } catch (e) {
      throw new SnapshotError(`${name} is damaged: ${(e as Error).message}`);
    }
    if (check !== 'ok') throw new SnapshotError(`${name} is damaged: ${String(check)}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    const hasState = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'state'").get() !== undefined;
    if (version < 1 || !hasState) throw new SnapshotError(`${name} is an SQLite database but not a Koor backup`);
    if (version > NEWEST_SCHEMA) throw new SnapshotError(`${name} comes from a newer Koor (schema ${version}, this one knows up to ${NEWEST_SCHEMA}): upgrade koor-server first`);
    return {
      version,
      bytes: st.size,
      counts: {
        state_keys: count(db, 'state'),
        rules: count(db, 'validation_rules'),
        specs: count(db, 'specs'),
        events: count(db, 'events'),
        instances: count(db, 'instances'),
      },
    };
  } finally {
    db.close();
  }
}
