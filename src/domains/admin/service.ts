import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BackupDone, BackupJob } from '../../../schemas/rpc/backup.js';
import { AppError, conflict, deadlineExceeded, internal } from '../../errors.js';
import type { Logger } from '../../log.js';

const BACKUP_URL = new URL('../../../workers/backup/main.js', import.meta.url);

export type Snapshot = Extract<BackupDone, { ok: true }>;

/** A backup thread's result, bounded by `timeoutMs` (the thread is stopped past it). */
function runBackupThread(job: BackupJob, timeoutMs: number): Promise<BackupDone> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(BACKUP_URL, { workerData: job });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(deadlineExceeded(`backup took longer than ${timeoutMs / 1000} s`));
    }, timeoutMs);
    timer.unref();
    worker.once('message', (m: BackupDone) => {
      clearTimeout(timer);
      resolve(m);
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`backup thread exited with code ${code}`));
    });
  });
}

/** Online backups (SPEC §8.6): one at a time, each a consistent snapshot in a temp file. */
export class AdminService {
  private busy = false;

  constructor(private readonly opts: { dataDir: string; dbPath: string; timeoutMs: number; log: Logger }) {}

  /**
   * Takes a snapshot into a temp file in the data directory (same file system, no memory held),
   * hands it to `use` (which streams it), and removes it whatever happens.
   */
  async withSnapshot(use: (file: string, snap: Snapshot) => Promise<void>): Promise<void> {
    if (this.busy) throw conflict('a backup is already running; try again when it has finished');
    this.busy = true;
    const file = path.join(this.opts.dataDir, `backup-${Date.now()}-${randomBytes(4).toString('hex')}.db.part`);
    try {
      const t0 = Date.now();
      const done = await runBackupThread({ source: this.opts.dbPath, dest: file }, this.opts.timeoutMs).catch((err: unknown) => {
        throw err instanceof AppError ? err : internal('take a backup', err);
      });
      if (!done.ok) throw internal('take a backup', new Error(done.error));
      this.opts.log.info({ bytes: done.bytes, ms: Date.now() - t0, ...done.counts }, 'backup taken');
      await use(file, done);
    } finally {
      this.busy = false;
      for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) fs.rmSync(f, { force: true });
    }
  }
}
