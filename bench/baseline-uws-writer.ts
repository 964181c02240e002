/**
 * The writer thread of `baseline-uws.ts … thread`: upserts each batch it is sent in one
 * transaction (synchronous FULL or NORMAL, WAL) and acknowledges it after COMMIT. The least a
 * SQLite writer thread behind uWS can do per PUT: no history, no audit, no envelopes.
 */
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';

// Worker argv lands after the script in process.argv.
const [file, sync] = process.argv.slice(2) as [string, string];
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, hash TEXT NOT NULL, version INTEGER NOT NULL)');
const upsert = db.prepare('INSERT INTO kv (key, value, hash, version) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, hash = excluded.hash, version = excluded.version');
const commit = db
  .transaction((b: { keys: string[]; values: Uint8Array[]; hashes: string[]; versions: number[] }) => {
    for (let i = 0; i < b.keys.length; i++) upsert.run(b.keys[i], b.values[i], b.hashes[i], b.versions[i]);
  }).immediate;

parentPort!.on('message', (b: { keys: string[]; values: Uint8Array[]; hashes: string[]; versions: number[] }) => {
  try {
    commit(b);
    parentPort!.postMessage({ ok: true });
  } catch (err) {
    parentPort!.postMessage({ ok: false, error: String(err) });
  }
});
