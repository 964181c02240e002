/**
 * The WAL checkpointer (issue 33's tail latency): a thread of the writer's with its own
 * connection, so a checkpoint — copying the WAL's pages into the data file and syncing it, tens
 * of milliseconds for 8 MiB — never holds up a batch. SQLite lets one connection checkpoint
 * while another writes (PASSIVE copies what no reader still needs and never waits); the writer
 * restarts the WAL at its next commit once every frame is back in the data file.
 *
 * Messages: `{ op: 'checkpoint' }` → `{ busy, log, checkpointed } | { error }`; `{ op: 'close' }`
 * closes the connection and the thread ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { file, sync } = workerData as { file: string; sync: 'full' | 'normal' };
const db = new Database(file, { fileMustExist: true });
// The checkpoint syncs the data file before the WAL may be restarted: as durable as the writer's commits.
db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
db.pragma('busy_timeout = 0');

parentPort!.on('message', (msg: { op: 'checkpoint' | 'close' }) => {
  if (msg.op === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    parentPort!.postMessage(r);
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).message });
  }
});
