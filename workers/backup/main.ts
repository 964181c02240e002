import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { BackupDone, BackupJob } from '../../schemas/rpc/backup.js';
import { inspectSnapshot } from '../../src/shared/snapshot.js';
import { openPg } from '../../src/shared/pg.js';
import { copySnapshotInto, pgIntoSqlite } from './pg-copy.js';

/**
 * A short-lived thread that takes one online snapshot off the front's event loop: its own
 * read-only connection copies the live rows with VACUUM INTO in one read transaction (a
 * consistent view of the WAL database, however steadily others commit).
 */

async function run(job: BackupJob): Promise<BackupDone> {
  if ('restore' in job) {
    // Cluster mode: the snapshot replaces the PostgreSQL data, or fills an empty database.
    const { info, rows } = await copySnapshotInto(job.database_url, job.restore, { replace: job.replace });
    return { ok: true, bytes: info.bytes, version: info.version, counts: info.counts, rows };
  }
  if ('database_url' in job) {
    // Cluster mode: the same snapshot format, copied from PostgreSQL.
    const sql = openPg(job.database_url, { max: 1, name: 'koor-backup' });
    try {
      await pgIntoSqlite(sql, job.dest);
    } finally {
      await sql.end({ timeout: 5 });
    }
  } else {
    const db = new Database(job.source, { readonly: true, fileMustExist: true });
    try {
      // VACUUM INTO writes the rows anew into a fresh file, in one read transaction (a consistent
      // view of the WAL database): no free page and no freed space inside a page comes along, so
      // nothing a deleted or overwritten row left behind (an old token, a secret before it was
      // encrypted) reaches a backup. A page-for-page copy would carry all of it.
      db.prepare('VACUUM INTO ?').run(job.dest);
    } finally {
      db.close();
    }
  }
  const info = inspectSnapshot(job.dest);
  return { ok: true, bytes: info.bytes, version: info.version, counts: info.counts };
}

run(workerData as BackupJob).then(
  (done) => parentPort!.postMessage(done),
  (err: unknown) => parentPort!.postMessage({ ok: false, error: (err as Error).message } satisfies BackupDone),
);
