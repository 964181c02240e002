import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type postgres from 'postgres';
import type { Sql, TransactionSql } from 'postgres';
import { WRITER_LIMITS } from '../../src/shared/limits.js';
import { openWriterDb, type DB } from '../writer/sqlite/db.js';
import { CHANGES_CHANNEL } from '../../schemas/rpc/cluster.js';
import { inspectSnapshot, type SnapshotInfo } from '../../src/shared/snapshot.js';
import { openPg } from '../../src/shared/pg.js';
import { beginOrDrop } from '../../src/shared/pg-tx.js';
import { WRITE_LOCK } from '../writer/pg/locks.js';
import { migratePg } from '../writer/pg/migrate.js';
import { RESTORE_MARK, STATE_HID_FROM_LOG } from '../../schemas/db/tables/state.js';
import { BACKUP_CURSOR_ROWS, BACKUP_ROWS_PER_INSERT } from '../../src/shared/limits-features.js';

/**
 * The one copy between koor's two stores (cluster mode): a SQLite data file or backup
 * into PostgreSQL (`--migrate-from`, `--restore` and a live restore in cluster mode), and
 * PostgreSQL into a new SQLite file (a backup in cluster mode: the backup format stays the SQLite
 * snapshot, restorable by either mode).
 *
 * Every table koor keeps, column by column (the columns both schemas have: PostgreSQL's `seq`
 * stands for SQLite's rowid, so rows are copied in rowid / seq order and it is regenerated); the
 * id counters (events, tasks, messages) carried over, so ids keep growing from where they were.
 */
const COPIED_TABLES = ['state', 'state_history', 'specs', 'state_changes', 'events', 'instances', 'validation_rules', 'compliance_runs', 'templates', 'webhooks', 'audit_log', 'agent_metrics', 'llm_usage', 'budgets', 'leases', 'lease_resources', 'tasks', 'task_deps', 'messages', 'message_recipients', 'api_tokens'] as const;

/** Tables whose ids the PostgreSQL schema hands out from `koor_counters` (the others use identity columns). */
const COUNTERS = ['events', 'tasks', 'messages', 'state_changes'] as const;

export interface CopyCounts {
  tables: number;
  rows: number;
}

const sqliteColumns = (db: DB, table: string): string[] => (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
/** A SQLite table's CREATE statement ('' when there is no such table): WITHOUT ROWID, AUTOINCREMENT. */
const createSql = (db: DB, table: string): string => (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(table) as string | undefined) ?? '';

async function pgColumns(sql: Sql | TransactionSql, table: string): Promise<string[]> {
  const rows = await sql<{ column_name: string }[]>`
    SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table} ORDER BY ordinal_position`;
  return rows.map((r) => r.column_name);
}

/**
 * Opens a SQLite file for reading at koor's current schema: a file from an older koor is copied
 * to a temp file and migrated there (the original is never written).
 */
function openMigrated(file: string): { db: DB; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-copy-'));
  const tmp = path.join(dir, 'data.db');
  fs.copyFileSync(file, tmp);
  for (const ext of ['-wal']) if (fs.existsSync(file + ext)) fs.copyFileSync(file + ext, tmp + ext);
  const db = openWriterDb(tmp, WRITER_LIMITS);
  return {
    db,
    done: () => {
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Copies the SQLite file into PostgreSQL in one transaction under the cluster-wide write lock
 * (writes of running nodes wait for it and then apply on top). `replace`: what the database
 * holds is dropped first (a restore); otherwise it must be empty (a migration), or nothing is
 * copied and the reason thrown. A lost connection fails the copy, not the thread, and ends `sql`
 * (beginOrDrop).
 */
export async function sqliteIntoPg(file: string, sql: Sql, opts: { replace: boolean }): Promise<CopyCounts> {
  await migratePg(sql);
  const { db, done } = openMigrated(file);
  try {
    return await beginOrDrop(sql, '', async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${WRITE_LOCK})`;
      // A restore goes on after the ids the replaced data handed out (see below).
      const handed = new Map<string, number>();
      if (opts.replace) {
        for (const c of await tx<{ name: string; value: number }[]>`SELECT name, value FROM koor_counters WHERE name IN ${tx(COUNTERS)}`) handed.set(c.name, c.value);
        await tx.unsafe(`TRUNCATE ${COPIED_TABLES.join(', ')}`);
      } else {
        for (const table of COPIED_TABLES) {
          const [r] = await tx.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table}`);
          if (r!.n > 0) throw new Error(`the database already holds koor data (table ${table}): --migrate-from copies into an empty database only`);
        }
      }
      let rows = 0;
      for (const table of COPIED_TABLES) {
        const pgCols = new Set(await pgColumns(tx, table));
        const cols = sqliteColumns(db, table).filter((c) => pgCols.has(c));
        // Rowid order (insertion order, which `seq` stands for); WITHOUT ROWID tables have none to keep.
        const withoutRowid = /WITHOUT\s+ROWID/i.test(createSql(db, table));
        const read = db.prepare(`SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM ${table}${withoutRowid ? '' : ' ORDER BY rowid'}`);
        let batch: Array<Record<string, postgres.ParameterOrJSON<never>>> = [];
        const flush = async () => {
          if (batch.length === 0) return;
          await tx`INSERT INTO ${tx(table)} ${tx(batch, ...cols)}`;
          rows += batch.length;
          batch = [];
        };
        for (const row of read.iterate() as Iterable<Record<string, postgres.ParameterOrJSON<never>>>) {
          batch.push(row);
          if (batch.length === BACKUP_ROWS_PER_INSERT) await flush();
        }
        await flush();
      }
      // Ids continue from where the file's were, or from where the replaced data's were when
      // they are further on (a restore: clients resume streams after ids they saw, and would skip
      // new items under them; src/data-dir.ts continueIds does the same on SQLite): counters,
      // then identity sequences.
      for (const name of COUNTERS) {
        const seq = (db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').pluck().get(name) as number | undefined) ?? 0;
        const max = (db.prepare(`SELECT max(id) FROM ${name}`).pluck().get() as number | null) ?? 0;
        const copied = Math.max(seq, max);
        const before = handed.get(name) ?? 0;
        // The change log's newest row is its newest revision (reads take max(id)): a restore mark.
        if (name === 'state_changes' && before > copied) await tx.unsafe(RESTORE_MARK.pg, [before, copied]);
        await tx`UPDATE koor_counters SET value = ${Math.max(copied, before)} WHERE name = ${name}`;
      }
      const identities = await tx<{ table_name: string; column_name: string }[]>`
        SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'`;
      for (const { table_name: t, column_name: c } of identities) {
        await tx.unsafe(`SELECT setval(pg_get_serial_sequence('${t}', '${c}'), coalesce((SELECT max("${c}") FROM ${t}), 0) + 1, false)`);
      }
      // Running nodes drop what they keep of the old data once this commits (src/cluster/node.ts),
      // and the writers refuse work derived from it (webhook runs read before: `restores`).
      if (opts.replace) {
        await tx`UPDATE koor_counters SET value = value + 1 WHERE name = 'restores'`;
        await tx`SELECT pg_notify(${CHANGES_CHANNEL}, 'restored')`;
      }
      return { tables: COPIED_TABLES.length, rows };
    });
  } finally {
    done();
  }
}

/**
 * A SQLite snapshot (a backup or a data file) into the PostgreSQL at `url`: checked first
 * (inspectSnapshot: intact, a Koor schema this version knows), then copied by sqliteIntoPg on a
 * connection of its own. What the snapshot holds, and the rows copied.
 */
export async function copySnapshotInto(url: string, file: string, opts: { replace: boolean }): Promise<{ info: SnapshotInfo; rows: number }> {
  const info = inspectSnapshot(file);
  const sql = openPg(url, { max: 1, name: 'koor-copy' });
  try {
    const { rows } = await sqliteIntoPg(file, sql, opts);
    return { info, rows };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Copies PostgreSQL into a new SQLite file at `dest` (koor's schema, made by its migrations),
 * read in one REPEATABLE READ snapshot: a consistent backup while the cluster keeps writing. A
 * lost connection fails the copy, not the thread, and ends `sql` (beginOrDrop).
 */
export async function pgIntoSqlite(sql: Sql, dest: string): Promise<CopyCounts> {
  const db = openWriterDb(dest, WRITER_LIMITS);
  try {
    let rows = 0;
    await beginOrDrop(sql, 'ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
      db.exec('BEGIN');
      try {
        for (const table of COPIED_TABLES) {
          const all = await pgColumns(tx, table);
          const own = new Set(sqliteColumns(db, table));
          const cols = all.filter((c) => own.has(c));
          const insert = db.prepare(`INSERT INTO ${table} (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
          const order = all.includes('seq') ? 'ORDER BY seq' : '';
          const cursor = tx.unsafe<Record<string, unknown>[]>(`SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM ${table} ${order}`).cursor(BACKUP_CURSOR_ROWS);
          for await (const chunk of cursor) {
            for (const r of chunk) insert.run(cols.map((c) => r[c] ?? null));
            rows += chunk.length;
          }
        }
        // What SQLite alone keeps: each key's pointer at its current value's row.
        db.exec(STATE_HID_FROM_LOG);
        for (const name of COUNTERS) {
          // A counter table without AUTOINCREMENT (state_changes) goes on from its newest row, copied above.
          if (!/AUTOINCREMENT/i.test(createSql(db, name))) continue;
          const [c] = await tx<{ value: number }[]>`SELECT value FROM koor_counters WHERE name = ${name}`;
          const value = c?.value ?? 0;
          const up = db.prepare('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?').run(value, name);
          if (up.changes === 0 && value > 0) db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(name, value);
        }
        db.exec('COMMIT');
      } catch (e) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw e;
      }
    });
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { tables: COPIED_TABLES.length, rows };
  } finally {
    db.close();
  }
}
