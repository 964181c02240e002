import os from 'node:os';
import { ClusterNode } from '../cluster/node.js';
import { redactUrl, type Config } from '../config.js';
import { STARTUP_TIMEOUT_MS } from '../shared/limits.js';
import { within } from '../within.js';
import { runBackupThread } from '../rpc/backup-client.js';
import { countsText, type Backend } from './backend.js';
import { startPgClock } from '../shared/pg-clock.js';

/**
 * A PostgreSQL database shared by the nodes of a cluster: every node writes (serialised by the
 * write lock), reads on a pool, learns of other nodes' commits by LISTEN, and one elected node
 * runs the background jobs. Nothing is kept in the data directory: nodes of one machine may share it.
 */
export function postgresBackend(config: Config): Backend {
  let node: ClusterNode | null = null;
  let stopClock: (() => Promise<void>) | null = null;
  const mustNode = (): ClusterNode => {
    if (node === null) throw new Error('the PostgreSQL backend is not open');
    return node;
  };
  return {
    label: redactUrl(config.database),
    logFields: { database: redactUrl(config.database) },
    writerTarget: { dbPath: '', databaseUrl: config.database },
    deliveryDbPath: '',
    // Copied from and into PostgreSQL as a SQLite snapshot (the same format); staged in the OS temp dir.
    snapshots: {
      stagingDir: os.tmpdir(),
      backupJob: (dest) => ({ database_url: config.database, dest }),
      restoreJob: (file) => ({ database_url: config.database, restore: file, replace: true }),
    },
    othersWrite: true,
    async open(log) {
      node = await within(ClusterNode.open(config.database, config.pgConnections, log.child({ component: 'cluster' })), STARTUP_TIMEOUT_MS, 'connecting to the database');
      // Leases, claims and expiries judged by the database's clock, as the writer's (pg-clock.ts).
      stopClock = await within(startPgClock(node.sql), STARTUP_TIMEOUT_MS, 'reading the database clock');
      return { kind: 'postgres', sql: node.sql, snapshots: node.snapshots };
    },
    fanout: (make) => make.feed(mustNode().sql),
    async listen(channel, fn) {
      const l = await mustNode().sql.listen(channel, fn, fn);
      return () => l.unlisten().catch(() => {});
    },
    async size() {
      return Number((await mustNode().sql<{ n: string }[]>`SELECT pg_database_size(current_database()) AS n`)[0]!.n);
    },
    startJobs: (jobs, on) => mustNode().start(jobs, on),
    stopJobs: async () => void (await node?.stop()),
    get leader() {
      return node;
    },
    async close() {
      await stopClock?.();
      await node?.end();
    },
  };
}

/**
 * A snapshot copied into PostgreSQL on a backup thread (as a live restore does), before any
 * server starts; no deadline (the operator waits). `replace`: the data there goes (--restore);
 * else the database must be empty (--migrate-from).
 */
async function copyInto(config: Config, file: string, replace: boolean): Promise<string> {
  const done = await runBackupThread({ database_url: config.database, restore: file, replace }, null);
  if (!done.ok) throw new Error(done.error);
  return `(${done.rows ?? 0} rows)\n${countsText(done.counts)}`;
}

/** --restore in cluster mode: the backup replaces the PostgreSQL data (running nodes resume on it). */
export async function restoreDatabase(config: Config, file: string): Promise<string> {
  return `koor-server: restored ${redactUrl(config.database)} from ${file} ${await copyInto(config, file, true)}`;
}

/** --migrate-from: a SQLite data file into an empty PostgreSQL. */
export async function copyIntoDatabase(config: Config, file: string): Promise<string> {
  return `koor-server: copied ${file} into ${redactUrl(config.database)} ${await copyInto(config, file, false)}`;
}
