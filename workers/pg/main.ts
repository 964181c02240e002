import type { Sql } from 'postgres';
import { isDatabaseUnavailable } from '../../src/shared/pg.js';
import { rateLimited } from '../../src/shared/rate-limited.js';
import { writerThread } from '../writer/startup.js';
import { openPg } from '../../src/shared/pg.js';
import { createPgDispatcher } from './dispatch.js';
import { migratePg } from './migrate.js';

/**
 * The writer thread of cluster mode: the same port protocol as workers/writer/main.ts (arrays of
 * envelopes in, arrays of replies out, `ready` / `open-failed` / `closed` controls), committing
 * to PostgreSQL. One batch at a time: envelopes that arrive while a batch commits form the next
 * one (group commit), and a reply leaves only after its batch's COMMIT returned.
 */
const thread = writerThread();
const { port, stats, startup, log } = thread;
const unreachable = rateLimited(log);

async function open(): Promise<Sql | null> {
  let sql: Sql | null = null;
  try {
    thread.check();
    if (!startup.database_url) throw new Error('no database URL');
    sql = openPg(startup.database_url, { max: 2, name: 'koor-writer' });
    await migratePg(sql);
    return sql;
  } catch (err) {
    await sql?.end({ timeout: 1 }).catch(() => {});
    port.postMessage({ control: 'open-failed', message: (err as Error).message });
    port.close();
    return null;
  }
}

const sql = await open();
if (sql === null) process.exit(1);
const dispatcher = createPgDispatcher(sql!, thread.options);
const maxBatch = startup.limits.max_batch_envelopes;
const queue: unknown[] = [];
let running = false;
let closing = false;

async function pump(): Promise<void> {
  running = true;
  while (queue.length > 0) {
    const batch = queue.splice(0, maxBatch);
    const t0 = performance.now();
    const { replies, commitError } = await dispatcher.run(batch);
    stats.recordBatch(batch.length, (performance.now() - t0) / 1000, commitError !== undefined);
    if (commitError) {
      // PostgreSQL out of reach: every batch fails until it is back — one warning per 10 s, not one per batch.
      if (isDatabaseUnavailable(commitError)) unreachable({ error: (commitError as Error).message, batch: batch.length }, 'database unavailable: writes answered 503');
      else log.error({ err: commitError, batch: batch.length }, 'commit failed');
    }
    if (replies.length > 0) port.postMessage(replies);
  }
  running = false;
  if (closing) {
    await sql!.end({ timeout: 5 });
    port.postMessage({ control: 'closed' });
    port.close();
  }
}

port.on('message', (msg: unknown) => {
  if (msg !== null && typeof msg === 'object' && (msg as { control?: string }).control === 'close') {
    closing = true;
    if (!running) void pump();
    return;
  }
  if (Array.isArray(msg)) for (const m of msg) queue.push(m);
  else queue.push(msg);
  if (!running) void pump();
});

port.postMessage({ control: 'ready' });
log.debug('writer ready (PostgreSQL)');
