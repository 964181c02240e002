/**
 * The WAL checkpointer, for the writes' tail latency: a thread of the writer's with its own
 * connection, so a checkpoint — copying the WAL's pages into the data file and syncing it, tens
 * of milliseconds for 8 MiB — never holds up a batch. SQLite lets one connection checkpoint
 * while another writes (PASSIVE copies what no reader still needs and never waits); the writer
 * restarts the WAL at its next commit once every frame is back in the data file.
 *
 * A PASSIVE checkpoint syncs the data file only when it copied every frame the WAL holds when it
 * ends; under load a commit lands meanwhile, so a step rarely did, and the pages it wrote stayed
 * unsynced until the writer's own last checkpoint of the WAL (the tail) synced them all, in the
 * writer thread, while writes waited (at 4 connections the tail took 0.8–0.9 ms at the
 * median, 1.6–2.5 at p90, against 0.6 and 0.8 once steps sync; one connection's p99 as wrk counts
 * it — a stall as the requests it held up — 2.1–2.7 ms against 1.65–1.8). So this thread syncs
 * what a step before the WAL is full copied (fdatasync: the pages are what it needs); the step
 * that starts once it is full is followed by the tail, whose sync covers it (syncing both cost
 * ~3 % of PUT/s at 50 connections, where every fill of the WAL is one step and a tail).
 * Durability does not rest on it: the WAL still restarts only after a checkpoint that copied
 * everything, which SQLite syncs itself; this sync only moves that work out of the writer.
 *
 * Messages: `{ op: 'checkpoint', sync }` → `{ busy, log, checkpointed } | { error }`;
 * `{ op: 'close' }` closes the connection and the thread ends.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { file, sync } = workerData as { file: string; sync: 'full' | 'normal' };
const db = new Database(file, { fileMustExist: true });
// The checkpoint syncs the data file before the WAL may be restarted: as durable as the writer's commits.
db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
db.pragma('busy_timeout = 0');
const dataFd = fs.openSync(file, 'r');

parentPort!.on('message', (msg: { op: 'checkpoint' | 'close'; sync?: boolean }) => {
  if (msg.op === 'close') {
    db.close();
    fs.closeSync(dataFd);
    parentPort!.close();
    return;
  }
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    if (msg.sync && r!.checkpointed > 0) fs.fdatasyncSync(dataFd);
    parentPort!.postMessage(r);
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).message });
  }
});
