import path from 'node:path';
import v8 from 'node:v8';
import { isDatabaseUnavailable } from '../../src/shared/pg-errors.js';
import { STORAGE_PROBE_MS } from '../../src/shared/limits.js';
import { Periodic } from '../../src/shared/periodic.js';
import { rateLimited } from '../../src/shared/rate-limited.js';
import { createDispatcher } from './dispatch.js';
import { committedRevision, readCommittedRevision } from './stores/changes.js';
import { CommitOutcomeUnknown, SyncFailedAfterCommit, type Driver } from './sql.js';
import { writerThread } from './startup.js';
import { decodeRequest, encodeReplies, type WriterControl, type WriterNotice } from '../../schemas/rpc/writer-wire.js';

/** Tells the front what is not a reply (schemas/rpc/writer-wire.ts). */
const notify = (n: WriterNotice): void => port.postMessage(n);

/**
 * The writer thread, one for both backends: arrays of requests in, arrays of replies out (in
 * their wire form, schemas/rpc/writer-wire.ts), `ready` / `open-failed` / `closed` controls. One
 * batch at a time: envelopes that arrive while a batch runs form the next one (group commit),
 * and a reply leaves only after its batch's COMMIT returned. The backend is the start-up data's:
 * a database URL (cluster mode, PostgreSQL) or a data file (SQLite); each driver loads only when
 * used.
 */
const thread = writerThread();
const { port, stats, startup, log } = thread;
const unreachable = rateLimited(log);

async function open(): Promise<Driver | null> {
  try {
    thread.check();
    if (startup.database_url) {
      const { openPgDriver } = await import('./pg/open.js');
      return await openPgDriver(startup.database_url);
    }
    if (startup.db_path === '') throw new Error('no data file and no database URL');
    const { openWriterDb } = await import('./sqlite/db.js');
    const { sqliteDriver } = await import('./sqlite/driver.js');
    // The front's data clock: the base it set up in the data directory (local-clock.ts).
    (await import('../../src/shared/local-clock.js')).startLocalClock(path.dirname(startup.db_path));
    return sqliteDriver(openWriterDb(startup.db_path, startup.limits, { sync: startup.sync, log, historyKeep: startup.state_history_keep }), startup.limits.wal_checkpoint_bytes, startup.sync, (kind) => stats.recordCheckpoint(kind));
  } catch (err) {
    // Reported to the front process, which turns it into one clear startup error.
    notify({ control: 'open-failed', message: (err as Error).message });
    port.close();
    return null;
  }
}

const opened = await open();
if (opened === null) process.exit(1);
const driver = opened!;
const dispatcher = createDispatcher(driver, thread.options);
/**
 * SQLite: this writer is the only one, so the newest revision it committed is the store's, and
 * the front reads it from shared memory (schemas/rpc/writer-stats.ts). Published before `ready`
 * and after each batch, before its replies. PostgreSQL: other nodes commit too; not published.
 */
let publishesRevision = false;
if (driver.dialect === 'sqlite') {
  try {
    await driver.transaction(async (tx) => {
      await readCommittedRevision(tx);
    });
    publishesRevision = true;
    stats.publishRevision(committedRevision());
  } catch (err) {
    // Left unpublished (-1): the front reads the revision from the database, as in cluster mode.
    log.warn({ err }, 'newest revision not read at start: the front reads it from the database');
  }
}
const maxBatch = startup.limits.max_batch_envelopes;
const queue: unknown[] = [];
let running = false;
/** The last batch failed for a full disk, and no write has succeeded since. */
let storageFull = false;
let closing = false;

/** Tells the front (and the log) that the disk is full, or has room again. */
function setStorageFull(full: boolean, err?: unknown): void {
  storageFull = full;
  notify(full ? { control: 'storage', full: true, error: (err as Error).message } : { control: 'storage', full: false });
  if (full) log.error({ err }, 'the disk holding the database is full: writes answer 507 until space is freed');
  else log.info('the disk holding the database has room again: writes resumed');
}

/**
 * While the disk is full and no write comes, a write that changes nothing is tried every
 * STORAGE_PROBE_MS, so /health turns ok once space is freed, without waiting for a client's write.
 */
new Periodic(
  () => {
    if (storageFull && !running && !closing && queue.length === 0 && driver.probeRoom()) setStorageFull(false);
  },
  { everyMs: STORAGE_PROBE_MS, name: 'storage probe', log },
).start();

/** The highest envelope id in a batch (ids the front numbered; a malformed envelope's is skipped, it never runs). */
function highestId(batch: readonly unknown[]): number {
  let max = 0;
  for (const raw of batch) {
    const id = (raw as { id?: unknown } | null)?.id;
    if (typeof id === 'number' && id > max) max = id;
  }
  return max;
}

/** The writer's heap is taken for /metrics (koor_writer_heap_bytes) after a batch at most this often, ms. */
const HEAP_EVERY_MS = 1000;
let heapAt = -Infinity;
function recordHeap(now: number): void {
  if (now - heapAt < HEAP_EVERY_MS) return;
  heapAt = now;
  const h = v8.getHeapStatistics();
  stats.recordHeap(h.used_heap_size, h.total_heap_size);
}

/** Lets the port deliver what arrived meanwhile (on SQLite a batch runs within one turn). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function pump(): Promise<void> {
  running = true;
  await nextTurn();
  while (queue.length > 0) {
    const batch = queue.splice(0, maxBatch);
    stats.startBatch(highestId(batch));
    const t0 = performance.now();
    const { replies, commitError } = await dispatcher.run(batch);
    const t1 = performance.now();
    stats.recordBatch(batch.length, (t1 - t0) / 1000, commitError !== undefined);
    recordHeap(t1);
    if (commitError) {
      // PostgreSQL out of reach: every batch fails until it is back — one warning per 10 s, not one per batch.
      // A COMMIT whose answer was lost with the connection: the same outage, its writes answered 504.
      if (commitError instanceof SyncFailedAfterCommit) log.error({ err: commitError, batch: batch.length }, 'the sync to disk after a commit failed: its writes answered 504 (committed, durability unknown)');
      else if (commitError instanceof CommitOutcomeUnknown) unreachable({ error: commitError.message, batch: batch.length, outcome_unknown: true }, 'database unavailable: writes answered 503 (504 where COMMIT was sent)');
      else if (isDatabaseUnavailable(commitError)) unreachable({ error: (commitError as Error).message, batch: batch.length }, 'database unavailable: writes answered 503');
      else if (!driver.full(commitError)) log.error({ err: commitError, batch: batch.length }, 'commit failed'); // a full disk: logged once below
    }
    // The storage state first: a client told 507 finds /health degraded already.
    const failedFull = commitError !== undefined && driver.full(commitError);
    if (failedFull !== storageFull && (failedFull || (commitError === undefined && driver.wrote()))) setStorageFull(failedFull, commitError);
    if (publishesRevision) stats.publishRevision(committedRevision());
    // Replies leave only after COMMIT returned: an acknowledged write is durable. One message
    // per batch: one structured clone and one wake-up of the front thread.
    if (replies.length > 0) port.postMessage(encodeReplies(replies, batch));
    // WAL checkpoints happen here, after the replies left (never inside a COMMIT).
    driver.afterBatch(failedFull);
    if (!closing && queue.length > 0) await nextTurn();
  }
  running = false;
  if (closing) {
    await driver.close();
    notify({ control: 'closed' });
    port.close();
  }
}

port.on('message', (msg: unknown) => {
  if (msg !== null && typeof msg === 'object' && (msg as WriterControl).control === 'close') {
    closing = true;
    if (!running) void pump();
    return;
  }
  // The front posts each turn's requests as one array (schemas/rpc/writer-wire.ts); a lone request is accepted too.
  if (Array.isArray(msg) && typeof msg[0] !== 'number') for (const m of msg) queue.push(decodeRequest(m));
  else queue.push(decodeRequest(msg));
  if (!running) void pump();
});

recordHeap(performance.now());
notify({ control: 'ready' });
log.debug(startup.database_url ? { backend: 'postgresql' } : { dbPath: startup.db_path }, 'writer ready');
