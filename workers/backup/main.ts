import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { BackupDone, BackupJob } from '../../schemas/rpc/backup.js';
import { inspectSnapshot } from '../../src/shared/snapshot.js';
import { openPg } from '../../src/shared/pg.js';
import { copySnapshotInto, pgIntoSqlite } from './pg-copy.js';

/**
 * A short-lived thread that takes one online snapshot with SQLite's backup API, off the front's
 * event loop. Its own read-only connection copies every page in ONE step: a step reads one
 * consistent view of the WAL database, and a copy made in several steps would start over each
 * time another connection commits (it might never finish under steady writes).
 */
const ALL_PAGES = 0x7fffffff;

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
      // better-sqlite3 copies 100 pages, then asks progress() how many next: "all of them".
      await db.backup(job.dest, { progress: () => ALL_PAGES });
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
