import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Statement } from 'better-sqlite3';
import type { CheckpointKind } from '../../../schemas/rpc/writer-stats.js';
import { SyncFailedAfterCommit, type Driver, type Param, type Query, type SyncTx, type Tx } from '../sql.js';
import { schemaVersion, vacuumStep, type DB } from './db.js';
import { WAL_STEPS, WAL_STEP_BATCHES } from '../../../src/shared/limits-features.js';

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The one writer on SQLite: every statement of a store is prepared once (on first use) and run
 * synchronously; the promises store code awaits are already settled, so a whole batch runs in
 * one turn of the thread, between port messages, as the synchronous writer did.
 */
export function sqliteDriver(
  db: DB,
  walCheckpointBytes = 0,
  sync: 'full' | 'normal' = 'full',
  onCheckpoint: (kind: CheckpointKind) => void = () => {},
): Driver {
  const wal = `${db.name}-wal`;
  const walSync = syncWalOnCommit(db, wal, sync);
  /** Rows changed by the transaction in progress (or the last one). */
  let changed = 0;
  /** The checkpointer thread (started at the first checkpoint), and whether it is checkpointing now. */
  let checkpointer: Worker | null = null;
  let running = false;
  /** Batches since the last step started. */
  let batches = 0;
  /** A step started once the WAL was full: when it is done, this thread copies what came since. */
  let fullStep: 'none' | 'running' | 'done' = 'none';
  /** The checkpointer thread died (it could not start, or failed): this thread checkpoints, as before it existed. */
  let noCheckpointer = false;
  const startCheckpointer = (full: boolean): void => {
    fullStep = full ? 'running' : 'none';
    batches = 0;
    if (!checkpointer) {
      const w = new Worker(new URL('./checkpointer.js', import.meta.url), { workerData: { file: db.name, sync } });
      w.unref();
      w.on('message', (r: { error?: string }) => {
        running = false;
        if (r.error === undefined && fullStep === 'running') fullStep = 'done';
        if (r.error === undefined) onCheckpoint('background');
      });
      w.once('exit', () => {
        if (checkpointer === w) {
          checkpointer = null;
          noCheckpointer = true;
          running = false;
        }
      });
      w.on('error', () => {}); // its exit follows
      checkpointer = w;
    }
    running = true;
    // A step before the WAL is full syncs what it copied; the full one leaves that to the tail (./checkpointer.ts).
    checkpointer.postMessage({ op: 'checkpoint', sync: !full });
  };
  const frameBytes = (db.pragma('page_size', { simple: true }) as number) + 24;
  const frames = walFrames(db, wal, frameBytes);
  /** Frames in a full WAL; a step; few enough for this thread to copy without a step first. */
  const limitFrames = Math.max(1, Math.floor(walCheckpointBytes / frameBytes));
  const stepFrames = Math.max(1, Math.floor(limitFrames / WAL_STEPS));
  const tailFrames = Math.max(1, Math.floor(stepFrames / 4));
  /**
   * The WAL is checkpointed after the replies left, never by SQLite's autocheckpoint inside a
   * COMMIT (that COMMIT's write would wait for it), and its bulk not in this thread at all: the checkpointer
   * thread copies it into the data file (PASSIVE) while batches go on committing, a step at a
   * time — once another eighth of the limit waits and WAL_STEP_BATCHES batches committed since
   * the last step — so that no sync of the data file has much to write (that sync holds
   * up the WAL syncs of the commits it overlaps; one copy of the whole WAL made two or three
   * writes in 300 at one connection 2–5 ms late, the p99). Once the WAL is full, one more step,
   * then this thread copies what came meanwhile (the tail), so nothing is left and the next
   * commit restarts the WAL (it also restarts when a step left nothing behind). Past 4× the limit
   * (the checkpointer cannot keep up), or if its thread died, this thread does it all. After a
   * full disk, TRUNCATE, which hands the WAL's space back so the next write finds room.
   */
  const checkpoint = (truncate: boolean): void => {
    if (walCheckpointBytes <= 0 && !truncate) return;
    try {
      if (truncate) {
        db.pragma('wal_checkpoint(TRUNCATE)');
        return;
      }
      batches++;
      const f = frames.read();
      if (f === null) return;
      const pending = f.written - f.copied;
      if (pending <= 0) return;
      if (f.written > 4 * limitFrames || noCheckpointer) {
        db.pragma('wal_checkpoint(PASSIVE)');
        onCheckpoint('inline');
      } else if (running) return;
      else if (f.written >= limitFrames) {
        if (fullStep === 'done' || pending <= tailFrames) {
          fullStep = 'none';
          db.pragma('wal_checkpoint(PASSIVE)');
          onCheckpoint('tail');
        } else startCheckpointer(true);
      } else if (pending >= stepFrames && batches >= WAL_STEP_BATCHES) startCheckpointer(false);
    } catch {
      // A full disk fails the checkpoint too: the next batch tries again.
    }
  };
  const prepared = new Map<Query, Statement<Param[]>>();
  const prep = (q: Query): Statement<Param[]> => {
    let s = prepared.get(q);
    if (s === undefined) {
      s = db.prepare<Param[]>(q.sqlite);
      prepared.set(q, s);
    }
    return s;
  };
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  const savepoint = db.prepare('SAVEPOINT w');
  const release = db.prepare('RELEASE w');
  const rollbackTo = db.prepare('ROLLBACK TO w');

  const syncTx: SyncTx = {
    get: <T>(q: Query, ...params: Param[]) => prep(q).get(...params) as T | undefined,
    all: <T>(q: Query, ...params: Param[]) => prep(q).all(...params) as T[],
    run: (q: Query, ...params: Param[]) => {
      const n = prep(q).run(...params).changes;
      changed += n;
      return n;
    },
    insert: (q: Query, ...params: Param[]) => {
      changed++;
      return Number(prep(q).run(...params).lastInsertRowid);
    },
  };
  const tx: Tx = {
    dialect: 'sqlite',
    sync: syncTx,
    get: async <T>(q: Query, ...params: Param[]) => syncTx.get<T>(q, ...params),
    all: async <T>(q: Query, ...params: Param[]) => syncTx.all<T>(q, ...params),
    run: async (q: Query, ...params: Param[]) => syncTx.run(q, ...params),
    insert: async (q: Query, ...params: Param[]) => syncTx.insert(q, ...params),
    send: (q: Query, ...params: Param[]) => {
      changed++;
      prep(q).run(...params);
    },
    flush: async () => {},
    async savepoint<T>(fn: () => Promise<T>): Promise<T> {
      savepoint.run();
      try {
        const r = await fn();
        release.run();
        return r;
      } catch (e) {
        // A full disk or I/O error may have rolled the whole transaction back: nothing to undo then.
        if (db.inTransaction) {
          rollbackTo.run();
          release.run();
        }
        throw e;
      }
    },
    notify: async () => {},
  };

  return {
    dialect: 'sqlite',
    async transaction(fn: (tx: Tx) => Promise<void>): Promise<void> {
      changed = 0;
      begin.run();
      try {
        await fn(tx);
        commit.run();
      } catch (e) {
        if (db.inTransaction) rollback.run();
        throw e;
      }
      try {
        walSync.afterCommit();
      } catch (e) {
        throw new SyncFailedAfterCommit(e);
      }
    },
    unavailable: () => false,
    full: (err: unknown) => {
      const code = (err as { code?: unknown } | null)?.code;
      return code === 'SQLITE_FULL' || (typeof code === 'string' && code.startsWith('SQLITE_IOERR') && /no space|disk is full|ENOSPC/i.test(String((err as Error).message)));
    },
    afterBatch: (failedFull: boolean) => checkpoint(failedFull),
    wrote: () => changed > 0,
    probeRoom: () => {
      try {
        // Setting user_version rewrites page 1: a frame appended to the WAL, as any write needs.
        const v = db.pragma('user_version', { simple: true }) as number;
        db.pragma(`user_version = ${v}`);
        checkpoint(true);
        return true;
      } catch {
        return false;
      }
    },
    aborted: () => !db.inTransaction,
    schemaVersion: async () => schemaVersion(db),
    sleep: async (_tx, ms) => sleepSync(ms),
    vacuum: async (_tx, pages) => vacuumStep(db, pages),
    close: async () => {
      const w = checkpointer;
      checkpointer = null; // its exit is expected now
      if (w) {
        await new Promise<void>((resolve) => {
          w.ref(); // unref'd while it runs: the wait for its exit must keep this thread's loop alive
          w.once('exit', () => resolve());
          w.postMessage({ op: 'close' });
        });
      }
      db.close();
      walSync.close();
      frames.close();
    },
  };
}

/**
 * Durable commits with fdatasync. better-sqlite3 builds SQLite without HAVE_FDATASYNC, so at
 * synchronous=FULL each COMMIT fsyncs the WAL, which on ext4 also commits the journal for the
 * file's mtime. A WAL mostly overwrites its own frames (it restarts after each checkpoint), so
 * fdatasync writes the same data without that metadata (0.14–0.17 ms against 0.18–0.27 at the
 * median on this disk). With `sync: 'full'` the connection runs at NORMAL — which in WAL mode
 * differs from FULL only by that sync at each COMMIT; checkpoints sync alike — and this syncs
 * the WAL after each COMMIT, before any reply leaves: every acknowledged write is on disk, as
 * before. A file not in WAL mode (a test's in-memory database) keeps SQLite's own FULL.
 */
function syncWalOnCommit(db: DB, wal: string, sync: 'full' | 'normal'): { afterCommit(): void; close(): void } {
  const none = { afterCommit: () => {}, close: () => {} };
  if (sync !== 'full' || db.memory || db.pragma('journal_mode', { simple: true }) !== 'wal') return none;
  let fd: number;
  try {
    fd = fs.openSync(wal, 'r');
  } catch {
    return none; // no WAL file to hold: SQLite's FULL stays
  }
  db.pragma('synchronous = NORMAL');
  return {
    afterCommit: () => fs.fdatasyncSync(fd),
    close: () => fs.closeSync(fd),
  };
}

const LE = os.endianness() === 'LE';
/** The wal-index format's version (WALINDEX_MAX_VERSION in SQLite's wal.c, unchanged since 3.7.0). */
const WAL_INDEX_VERSION = 3007000;

/**
 * How far the WAL is written and copied back: its frame count (mxFrame) and the frames already
 * in the data file (nBackfill), read from the wal-index (the -shm file SQLite maps; header and
 * checkpoint info at fixed offsets, in the machine's byte order: sqlite.org/walformat.html).
 * The WAL file's size says neither: it is not truncated when the WAL restarts, only rewritten
 * from its start. Null without a wal-index (not in WAL mode: an in-memory database).
 */
function walFrames(db: DB, wal: string, frameBytes: number): { read(): { written: number; copied: number } | null; close(): void } {
  let fd = -1;
  const buf = Buffer.alloc(4 * 26);
  const u32 = (at: number) => (LE ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  return {
    read: () => {
      if (fd < 0) {
        if (db.memory) return null;
        try {
          fd = fs.openSync(`${db.name}-shm`, 'r');
        } catch {
          return null;
        }
      }
      // A layout this code does not know (WalIndexHdr.iVersion): the WAL file's size, all of it
      // waiting — checkpoints then run after every batch, never too few.
      if (fs.readSync(fd, buf, 0, buf.length, 0) < buf.length || u32(0) !== WAL_INDEX_VERSION) {
        const frames = Math.floor(Math.max(0, (fs.statSync(wal, { throwIfNoEntry: false })?.size ?? 0) - 32) / frameBytes);
        return { written: frames, copied: 0 };
      }
      // WalIndexHdr.mxFrame at byte 16; WalCkptInfo.nBackfill at byte 96, after the header's two copies.
      return { written: u32(16), copied: u32(96) };
    },
    close: () => {
      if (fd >= 0) fs.closeSync(fd);
      fd = -1;
    },
  };
}
