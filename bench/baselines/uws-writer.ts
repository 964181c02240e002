/**
 * The writer thread of `uws.ts … thread`: upserts each batch it is sent in one
 * transaction (synchronous FULL or NORMAL, WAL) and acknowledges it after COMMIT. The least a
 * SQLite writer thread behind uWS can do per PUT: no history, no audit, no envelopes.
 *
 * With `features` (`uws.ts … thread features`), it stores instead what a koor PUT must
 * keep, in koor's own tables (their DDL from schemas/db), with the fewest statements: the change
 * log row (its revision), the value once in the version log, the current row's metadata, the
 * version that falls out of the newest 100 deleted, and the batch's audit rows in multi-row
 * statements. Versions come from the front (no read of the current row), no envelopes, no
 * validation: the floor of koor's stored contents in koor's shape.
 */
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Query } from '../../schemas/db/sql.js';
import { createTable } from '../../schemas/db/table.js';
import { AUDIT_LOG } from '../../schemas/db/tables/audit.js';
import { STATE, STATE_CHANGES, STATE_HISTORY } from '../../schemas/db/tables/state.js';
import { insertAuditRows, type AuditRow } from '../../workers/writer/stores/audit.js';
import { storageNow } from '../../schemas/db/time.js';

/** A batch of writes; a value may be text (the fan-out floor's events: a pooled Buffer would be cloned with its whole 8 KB slab). */
type Batch = { keys: string[]; values: Array<Uint8Array | string>; hashes: string[]; versions: number[] };

// Worker argv lands after the script in process.argv.
const [file, sync, mode] = process.argv.slice(2) as [string, string, string | undefined];
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);

function plain(): (b: Batch) => void {
  db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, hash TEXT NOT NULL, version INTEGER NOT NULL)');
  const upsert = db.prepare('INSERT INTO kv (key, value, hash, version) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, hash = excluded.hash, version = excluded.version');
  return (b) => {
    for (let i = 0; i < b.keys.length; i++) upsert.run(b.keys[i], b.values[i], b.hashes[i], b.versions[i]);
  };
}

function features(): (b: Batch) => void {
  const KEEP = 100;
  for (const t of [STATE, STATE_HISTORY, STATE_CHANGES, AUDIT_LOG]) db.exec(createTable(t, 'sqlite'));
  const log = db.prepare("INSERT INTO state_changes (topic, type, version, hash, content_type, updated_by) VALUES (?, 'put', ?, ?, 'application/json', '')");
  const value = db.prepare("INSERT INTO state_history (key, version, value, hash, content_type, updated_at, updated_by) VALUES (?, ?, ?, ?, 'application/json', ?, '')");
  const meta = db.prepare(
    `INSERT INTO state (key, version, hash, content_type, updated_at, updated_by, revision, hid) VALUES (?, ?, ?, 'application/json', ?, '', ?, ?)
     ON CONFLICT(key) DO UPDATE SET version = excluded.version, hash = excluded.hash, updated_at = excluded.updated_at, revision = excluded.revision, hid = excluded.hid`,
  );
  const dropOne = db.prepare('DELETE FROM state_history WHERE key = ? AND version = ?');
  const statements = new Map<string, Database.Statement>();
  const send = (q: Query, ...params: string[]): void => {
    let s = statements.get(q.sqlite);
    if (s === undefined) statements.set(q.sqlite, (s = db.prepare(q.sqlite)));
    s.run(...params);
  };
  return (b) => {
    const at = storageNow();
    const audit: AuditRow[] = [];
    for (let i = 0; i < b.keys.length; i++) {
      const key = b.keys[i]!;
      const v = b.versions[i]!;
      const revision = log.run(`s:${key}`, v, b.hashes[i]).lastInsertRowid;
      const hid = value.run(key, v, b.values[i], b.hashes[i], at).lastInsertRowid;
      meta.run(key, v, b.hashes[i], at, revision, hid);
      if (v > KEEP) dropOne.run(key, v - KEEP);
      audit.push([at, '', 'state.put', key, `{"version":${v}}`]);
    }
    insertAuditRows(send, audit);
  };
}

const commit = db.transaction(mode === 'features' ? features() : plain()).immediate;

parentPort!.on('message', (b: Batch) => {
  try {
    commit(b);
    parentPort!.postMessage({ ok: true });
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: String(err) });
  }
});
