import type { Sql } from 'postgres';
import type { BackupJob } from '../../schemas/rpc/backup.js';
import type { Job } from '../cluster/node.js';
import type { Logger } from '../log.js';
import type { TxClient } from '../shared/pg-tx.js';
import type { SnapshotCounts } from '../shared/snapshot.js';
import type { ReadDb, ReaderMap } from './read-db.js';
import type { TurnSnapshot } from './reads.js';
import type { Awaitable } from '../shared/awaitable.js';

/** What a backup copies and a live restore replaces (src/domains/admin/service.ts runs the jobs). */
export interface Snapshots {
  /** Where snapshots are staged: beside data.db (same file system), or the OS temp dir. */
  readonly stagingDir: string;
  /** The backup thread's job copying the data into a SQLite snapshot at `dest`. */
  backupJob(dest: string): BackupJob;
  /**
   * The job replacing the data with a checked snapshot in place (PostgreSQL: one transaction,
   * nothing restarts); null where the server restarts on the file instead (SQLite).
   */
  readonly restoreJob: ((file: string) => BackupJob) | null;
}

/**
 * The read side a backend opens, for the domains' readers (src/domains/readers.ts): the front's
 * SQLite read connection (with its turn's read transaction: src/backend/reads.ts), or the
 * PostgreSQL pool and its snapshot client.
 */
export type ReadSide = { readonly kind: 'sqlite'; readonly db: ReadDb; readonly snapshot: TurnSnapshot; readonly map: ReaderMap } | { readonly kind: 'postgres'; readonly sql: Sql; readonly snapshots: TxClient };

/**
 * How committed events reach this node's subscribers, made by the event log (src/domains/events):
 * `local`, each write's reply (one writer behind this process); `feed`, the shared log read in id
 * order on PostgreSQL's notifications (started before it is returned).
 */
export interface FanoutMakers<F> {
  local(): F;
  feed(sql: Sql): Promise<F>;
}

/**
 * Where Koor keeps its data, as one object chosen at start-up: the embedded SQLite
 * file (src/backend/sqlite.ts) or a PostgreSQL database shared by the nodes of a cluster
 * (src/backend/postgres.ts). The composition root and the services take what they need from
 * it; no other part of the front asks which backend it runs on.
 */
export interface Backend {
  /** The database as messages name it: the data file, or the URL without its password. */
  readonly label: string;
  /** What the start-up log line says of it. */
  readonly logFields: Readonly<Record<string, unknown>>;
  /** What the writer thread opens (src/rpc/writer-client.ts). */
  readonly writerTarget: { dbPath: string; databaseUrl?: string };
  /** The file the webhook delivery thread reads event bodies from; '' when the dispatcher hands them over. */
  readonly deliveryDbPath: string;
  /** What a backup copies and a live restore replaces (src/domains/admin/service.ts). */
  readonly snapshots: Snapshots;
  /**
   * Other processes write to this database too (cluster mode): nothing read may be kept across
   * requests (no state values, no rule selections), and a token or id this process does not know
   * may be an agent another node registered (looked up, not refused).
   */
  readonly othersWrite: boolean;
  /** Opens the read side, once the writer thread has the database open and migrated. */
  open(log: Logger): Promise<ReadSide>;
  /** The fan-out of committed events this backend needs, of the two `make` offers. */
  fanout<F>(make: FanoutMakers<F>): Promise<F>;
  /**
   * Calls `fn` whenever another node (or this one) notifies `channel` after a commit, and when the
   * listening connection (re)starts; the stop. Null on SQLite: one writer behind this process, whose replies tell.
   */
  listen(channel: string, fn: () => void): Promise<(() => Promise<void>) | null>;
  /** Bytes the data takes now (retention's figure): the file and its WAL, or the PostgreSQL database. */
  size(): Awaitable<number>;
  /**
   * Runs the background jobs once per deployment: here, or on the elected node of a cluster.
   * `forget`: an agent deregistered on another node; `revoked`: a created token revoked on another; `restored`: another node's restore replaced the data.
   */
  startJobs(jobs: readonly Job[], on: { forget(id: string): void; revoked?(tokenId: string): void; restored(): void }): Promise<void>;
  stopJobs(): Promise<void>;
  /** Cluster mode: whether this node runs the background jobs now; null on SQLite. */
  readonly leader: { readonly isLeader: boolean } | null;
  /** Closes the read side and lets go of the data directory. */
  close(): Promise<void>;
}

/** The snapshot's counts as `koor-server --restore` prints them. */
export function countsText(c: SnapshotCounts): string {
  return `  state keys: ${c.state_keys}\n  rules: ${c.rules}\n  specs: ${c.specs}\n  events: ${c.events}\n  instances: ${c.instances}\n`;
}
