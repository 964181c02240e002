import { openWriterDb } from './db.js';
import { createDispatcher } from './dispatch.js';
import { writerThread } from './startup.js';

/** Control messages (not RPC): orderly shutdown. */
export type WriterControl = { control: 'close' };

const thread = writerThread();
const { port, stats, startup, log } = thread;
const dbPath = startup.db_path;

function open(): ReturnType<typeof openWriterDb> | null {
  try {
    thread.check();
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
const dispatcher = createDispatcher(db, thread.options);
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
