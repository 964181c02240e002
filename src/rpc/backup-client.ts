import { Worker } from 'node:worker_threads';
import type { BackupDone, BackupJob } from '../../schemas/rpc/backup.js';
import { fail } from '../errors.js';

const BACKUP_URL = new URL('../../workers/backup/main.js', import.meta.url);

/**
 * One job on a short-lived backup thread (workers/backup): an online snapshot of the SQLite
 * file, a snapshot of the PostgreSQL data, or a snapshot copied into PostgreSQL (a restore, or
 * --migrate-from). Resolves with its result; bounded by `timeoutMs` when given (the thread is
 * stopped past it, DEADLINE_EXCEEDED); rejects if the thread dies.
 */
export function runBackupThread(job: BackupJob, timeoutMs: number | null): Promise<BackupDone> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(BACKUP_URL, { workerData: job });
    const timer =
      timeoutMs === null
        ? null
        : setTimeout(() => {
            void worker.terminate();
            reject(fail('BACKUP_TIMED_OUT', timeoutMs / 1000));
          }, timeoutMs);
    timer?.unref();
    worker.once('message', (m: BackupDone) => {
      if (timer) clearTimeout(timer);
      resolve(m);
    });
    worker.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    worker.once('exit', (code) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`backup thread exited with code ${code}`));
    });
  });
}
