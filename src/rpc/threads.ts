import { ConfigError, type Config } from '../config.js';
import type { Logger } from '../log.js';
import { POOL_MAX_QUEUE, STARTUP_TIMEOUT_MS } from '../shared/limits.js';
import { within } from '../within.js';
import { PoolClient } from './pool-client.js';
import { WriterClient } from './writer-client.js';

/** What the threads need of the backend chosen at start-up (src/backend/ is a floor above the thread clients). */
export interface ThreadsTarget {
  readonly label: string;
  readonly writerTarget: { dbPath: string; databaseUrl?: string };
}

/** The writer thread (database open + migrations), bounded: one line, never a hang; and the pool, whose threads start with its first job. */
export async function startThreads(backend: ThreadsTarget, config: Config, log: Logger, undo: Array<() => unknown>): Promise<{ writer: WriterClient; pool: PoolClient }> {
  const writer = new WriterClient({
    ...backend.writerTarget,
    logLevel: config.logLevel,
    sync: config.sync,
    deadlineMs: config.rpcDeadlineMs,
    maxInFlight: config.rpcMaxInFlight,
    log: log.child({ component: 'rpc' }),
    testHooks: config.testHooks === true,
    stateHistoryKeep: config.stateHistoryKeep,
  });
  const pool = new PoolClient({ threads: config.poolThreads, deadlineMs: config.poolDeadlineMs, maxQueue: POOL_MAX_QUEUE, log: log.child({ component: 'pool' }) });
  undo.push(() => pool.close());
  // The pool starts its threads on its first job (an idle server holds none).
  const [writerUp] = await Promise.allSettled([within(writer.start(), STARTUP_TIMEOUT_MS, 'opening the database')]);
  if (writerUp.status === 'rejected') {
    void writer.kill(); // it may be stuck in native code: do not wait for it
    throw new ConfigError(`failed to open database ${backend.label}: ${(writerUp.reason as Error).message}`);
  }
  undo.push(() => writer.close(0));
  return { writer, pool };
}
