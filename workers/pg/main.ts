import { workerData, type MessagePort } from 'node:worker_threads';
import pino from 'pino';
import { Compile } from 'typebox/compile';
import type { Sql } from 'postgres';
import { WriterStartup } from '../../schemas/rpc/writer.js';
import { WriterStatsView } from '../../schemas/rpc/writer-stats.js';
import { openPg } from './connect.js';
import { createPgDispatcher } from './dispatch.js';
import { migratePg } from './migrate.js';

/**
 * The writer thread of cluster mode: the same port protocol as workers/writer/main.ts (arrays of
 * envelopes in, arrays of replies out, `ready` / `open-failed` / `closed` controls), committing
 * to PostgreSQL. One batch at a time: envelopes that arrive while a batch commits form the next
 * one (group commit), and a reply leaves only after its batch's COMMIT returned.
 */
const { port, stats: statsBuffer, ...startup } = workerData as WriterStartup & { port: MessagePort; stats: SharedArrayBuffer };
const stats = new WriterStatsView(statsBuffer);
const log = pino({ level: startup.log_level, base: { pid: process.pid, component: 'writer' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));

async function open(): Promise<Sql | null> {
  let sql: Sql | null = null;
  try {
    const check = Compile(WriterStartup);
    if (!check.Check(startup)) throw new Error(`invalid writer start-up data: ${[...check.Errors(startup)][0]?.instancePath ?? ''}`);
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
const dispatcher = createPgDispatcher(sql!, {
  testHooks: startup.test_hooks,
  log,
  stateHistoryKeep: startup.state_history_keep,
  webhookBacklogMax: startup.limits.webhook_backlog_max,
  webhookDisableAfter: startup.limits.webhook_disable_after,
});
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
    if (commitError) log.error({ err: commitError, batch: batch.length }, 'commit failed');
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
