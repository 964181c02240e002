import { workerData, type MessagePort } from 'node:worker_threads';
import pino from 'pino';
import { Compile } from '../../schemas/typebox.js';
import { WriterStartup } from '../../schemas/rpc/writer.js';
import { WriterStatsView } from '../../schemas/rpc/writer-stats.js';

/**
 * What the writer thread (workers/writer/main.ts, on SQLite or, through workers/writer/pg/, on
 * PostgreSQL) takes from the front: the port, the shared stats, the start-up data and a logger; `check` throws when
 * the data is not a WriterStartup; `options` are the dispatcher's settings from it.
 */
export function writerThread() {
  const { port, stats, ...startup } = workerData as WriterStartup & { port: MessagePort; stats: SharedArrayBuffer };
  const log = pino({ level: startup.log_level, base: { pid: process.pid, component: 'writer' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
  return {
    port,
    stats: new WriterStatsView(stats),
    startup,
    log,
    check(): void {
      const c = Compile(WriterStartup);
      if (!c.Check(startup)) throw new Error(`invalid writer start-up data: ${[...c.Errors(startup)][0]?.instancePath ?? ''}`);
    },
    options: {
      testHooks: startup.test_hooks,
      log,
      stateHistoryKeep: startup.state_history_keep,
      webhookBacklogMax: startup.limits.webhook_backlog_max,
      webhookDisableAfter: startup.limits.webhook_disable_after,
    },
  };
}
