import { workerData, type MessagePort } from 'node:worker_threads';
import pino from 'pino';
import { Compile } from 'typebox/compile';
import { WriterStartup } from '../../schemas/rpc/writer.js';
import { WriterStatsView } from '../../schemas/rpc/writer-stats.js';
import { openWriterDb } from './db.js';
import { createDispatcher } from './dispatch.js';

/** Control messages (not RPC): orderly shutdown. */
export type WriterControl = { control: 'close' };

const { port, stats: statsBuffer, ...startup } = workerData as WriterStartup & { port: MessagePort; stats: SharedArrayBuffer };
const stats = new WriterStatsView(statsBuffer);
const log = pino({ level: startup.log_level, base: { pid: process.pid, component: 'writer' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
const dbPath = startup.db_path;

function open(): ReturnType<typeof openWriterDb> | null {
  try {
    const check = Compile(WriterStartup);
    if (!check.Check(startup)) throw new Error(`invalid writer start-up data: ${[...check.Errors(startup)][0]?.instancePath ?? ''}`);
    return openWriterDb(dbPath, startup.limits, { sync: startup.sync, log });
  } catch (err) {
    // Reported to the front process, which turns it into one clear startup error.
    port.postMessage({ control: 'open-failed', message: (err as Error).message });
    port.close();
    return null;
  }
}

const opened = open();
if (opened === null) process.exit(1);
const db = opened!;
const dispatcher = createDispatcher(db, {
  testHooks: startup.test_hooks,
  log,
  stateHistoryKeep: startup.state_history_keep,
  webhookBacklogMax: startup.limits.webhook_backlog_max,
  webhookDisableAfter: startup.limits.webhook_disable_after,
});
const maxBatch = startup.limits.max_batch_envelopes;
const queue: unknown[] = [];
let scheduled = false;
let closing = false;

function flush(): void {
  scheduled = false;
  while (queue.length > 0) {
    const batch = queue.splice(0, maxBatch);
    const t0 = performance.now();
    const { replies, commitError } = dispatcher.run(batch);
    stats.recordBatch(batch.length, (performance.now() - t0) / 1000, commitError !== undefined);
    if (commitError) log.error({ err: commitError, batch: batch.length }, 'commit failed');
    // Replies leave only after COMMIT returned: an acknowledged write is durable. One message
    // per batch: one structured clone and one wake-up of the front thread.
    if (replies.length > 0) port.postMessage(replies);
    if (!closing && queue.length > 0) {
      // Let the port deliver what arrived meanwhile, then commit the next group.
      scheduled = true;
      setImmediate(flush);
      return;
    }
  }
  if (closing) {
    db.close();
    port.postMessage({ control: 'closed' });
    port.close();
  }
}

port.on('message', (msg: unknown) => {
  if (msg !== null && typeof msg === 'object' && (msg as WriterControl).control === 'close') {
    closing = true;
    if (!scheduled) flush();
    return;
  }
  // The front posts each turn's envelopes as one array; a lone envelope is accepted too.
  if (Array.isArray(msg)) for (const m of msg) queue.push(m);
  else queue.push(msg);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});

port.postMessage({ control: 'ready' });
log.debug({ dbPath }, 'writer ready');
