import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BackupDone, BackupJob } from '../../../schemas/rpc/backup.js';
import type { Snapshots } from '../../backend/backend.js';
import { AppError, fail, internal } from '../../errors.js';
import { inspectSnapshot, SnapshotError, type SnapshotInfo } from '../../shared/snapshot.js';
import type { Logger } from '../../log.js';
import { runBackupThread } from '../../rpc/backup-client.js';

export type Snapshot = Extract<BackupDone, { ok: true }>;

/** The uploaded body of a restore, as its route hands it over (it streams it: src/http/body.ts). */
export interface Upload {
  /** Writes the body to `file` (a new file), at most `capBytes`; its size once all of it is written. */
  toFile(file: string, capBytes: number): Promise<number>;
  /** Reads the body to nowhere: a refused upload. */
  discard(): void;
}

/** Online backups: one at a time, each a consistent snapshot in a temp file. */
export class AdminService {
  private busy = false;

  private restoring = false;

  constructor(
    private readonly opts: {
      snapshots: Snapshots;
      timeoutMs: number;
      restoreMaxBytes: number;
      log: Logger;
      /** Restarts the server on the snapshot (the supervisor); absent = no live restore here. */
      onRestore?: (file: string) => void;
    },
  ) {}

  /**
   * A live restore: the uploaded snapshot is written to the data directory and checked; `reply`
   * answers the client, then the supervisor closes this server, swaps the data file (the
   * current one kept aside) and starts a new server on the same ports, so no cache, session or
   * subscription of the old data survives. Where the backend restores in place (cluster mode)
   * the snapshot replaces the database first (restoreInPlace) and nothing restarts. Must be
   * called in the synchronous part of the handler.
   */
  restore(upload: Upload, reply: (info: SnapshotInfo, restarting: boolean) => void): Promise<void> {
    const onRestore = this.opts.onRestore;
    const inPlace = this.opts.snapshots.restoreJob;
    if ((!onRestore && !inPlace) || this.restoring) {
      upload.discard();
      return Promise.reject(
        onRestore || inPlace ? fail('RESTORE_UNDER_WAY') : fail('RESTORE_NEEDS_SERVER'),
      );
    }
    this.restoring = true;
    const file = path.join(this.opts.snapshots.stagingDir, `restore-${Date.now()}-${randomBytes(4).toString('hex')}.db`);
    return upload
      .toFile(file, this.opts.restoreMaxBytes)
      .then(() => {
        let info: SnapshotInfo;
        try {
          info = inspectSnapshot(file, 'the uploaded file');
        } catch (e) {
          throw e instanceof SnapshotError ? fail('SNAPSHOT_INVALID', e.message) : e;
        }
        if (inPlace) return this.restoreInPlace(inPlace(file), file, info, reply);
        reply(info, true);
        this.opts.log.warn({ bytes: info.bytes, ...info.counts }, 'restoring a snapshot: restarting on it');
        onRestore!(file);
      })
      .catch((err: unknown) => {
        this.restoring = false;
        removeSqliteFile(file);
        throw err;
      });
  }

  /**
   * A live restore in place (cluster mode): the checked snapshot replaces the database in one
   * transaction (the backup thread copies it); every node then drops what it held of the old
   * data (a notification in that transaction). The reply comes after the commit.
   */
  private async restoreInPlace(job: BackupJob, file: string, info: SnapshotInfo, reply: (info: SnapshotInfo, restarting: boolean) => void): Promise<void> {
    // A failure is cleaned up by restore()'s catch; success here.
    await this.runThread(job, 'restore the backup');
    this.restoring = false;
    removeSqliteFile(file);
    this.opts.log.warn({ bytes: info.bytes, ...info.counts }, 'the database was replaced by an uploaded snapshot');
    reply(info, false);
  }

  /** One backup-thread job; its failure as an AppError naming `what`. */
  private async runThread(job: BackupJob, what: string): Promise<Snapshot> {
    const done = await runBackupThread(job, this.opts.timeoutMs).catch((err: unknown) => {
      throw err instanceof AppError ? err : internal(what, err);
    });
    if (!done.ok) throw internal(what, new Error(done.error));
    return done;
  }

  /**
   * Takes a snapshot into a temp file in the staging directory (no memory held),
   * hands it to `use` (which streams it), and removes it whatever happens.
   */
  async withSnapshot(use: (file: string, snap: Snapshot) => Promise<void>): Promise<void> {
    if (this.busy) throw fail('BACKUP_RUNNING');
    this.busy = true;
    const file = path.join(this.opts.snapshots.stagingDir, `backup-${Date.now()}-${randomBytes(4).toString('hex')}.db.part`);
    try {
      const t0 = Date.now();
      const done = await this.runThread(this.opts.snapshots.backupJob(file), 'take a backup');
      this.opts.log.info({ bytes: done.bytes, ms: Date.now() - t0, ...done.counts }, 'backup taken');
      await use(file, done);
    } finally {
      this.busy = false;
      removeSqliteFile(file);
    }
  }
}

/** A staged SQLite file and the -wal/-shm/-journal files that opening it may have left beside it. */
function removeSqliteFile(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) fs.rmSync(f, { force: true });
}
