/**
 * The one writer's view of a database: statements written once (schemas/db/sql.ts),
 * run by either backend. A store method receives a Tx and awaits its statements; the SQLite
 * driver answers them at once from prepared statements, the PostgreSQL driver over the
 * connection of the batch's transaction.
 */
import type { Dialect, Param, Query } from '../../schemas/db/sql.js';

export { dialects, inserting, only, sql, type Dialect, type Param, type Query } from '../../schemas/db/sql.js';

/**
 * SQLite's statements answered at once, without a promise: for the per-dialect hot path of a
 * write (a store method awaiting each of a PUT's five statements allocated ~2 KB of
 * promises per PUT in the writer thread, two fifths of what it allocated).
 */
export interface SyncTx {
  get<T>(q: Query, ...params: Param[]): T | undefined;
  all<T>(q: Query, ...params: Param[]): T[];
  run(q: Query, ...params: Param[]): number;
  insert(q: Query, ...params: Param[]): number;
}

/** A write transaction, as store code sees it. Every statement belongs to the batch's transaction. */
export interface Tx {
  readonly dialect: Dialect;
  /** The same statements answered at once: SQLite's; null on PostgreSQL (a round trip each). */
  readonly sync: SyncTx | null;
  /** The first row, or undefined. */
  get<T>(q: Query, ...params: Param[]): Promise<T | undefined>;
  all<T>(q: Query, ...params: Param[]): Promise<T[]>;
  /** Runs a statement that returns no rows; the number of rows it changed. */
  run(q: Query, ...params: Param[]): Promise<number>;
  /** Runs an INSERT built with `inserting()` (or one whose PostgreSQL text returns `id`); the new row's id. */
  insert(q: Query, ...params: Param[]): Promise<number>;
  /**
   * Runs a statement whose result nobody waits for: on PostgreSQL it rides with the next one (no
   * round trip of its own) and a failure fails the transaction at `flush`; on SQLite it runs now.
   */
  send(q: Query, ...params: Param[]): void;
  /** Waits for what `send` sent; throws the first failure. */
  flush(): Promise<void>;
  /** `fn` in a savepoint: if it throws, its writes are undone and the rest of the transaction stands. */
  savepoint<T>(fn: () => Promise<T>): Promise<T>;
  /** Tells every node of the cluster once this commits (PostgreSQL NOTIFY); nothing to tell on SQLite. */
  notify(channel: string, payload: string): Promise<void>;
}

/**
 * A batch's COMMIT was sent and its answer never came (the connection broke): the batch may have
 * committed or not. Its writes are answered OUTCOME_UNKNOWN, never as certain failures.
 */
export class CommitOutcomeUnknown extends Error {
  constructor(cause: unknown, what = 'COMMIT sent, answer lost') {
    super(`${what}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/**
 * SQLite: COMMIT returned (readers see the rows) but the WAL's sync after it failed (EIO, ENOSPC):
 * whether the writes survive a crash is unknown. Not "nothing was written" (the batch did commit).
 */
export class SyncFailedAfterCommit extends CommitOutcomeUnknown {
  constructor(cause: unknown) {
    super(cause, 'committed, but its sync to disk failed');
  }
}

/** What a backend gives the one writer (workers/writer/sqlite/driver.ts, workers/writer/pg/driver.ts). */
export interface Driver {
  readonly dialect: Dialect;
  /**
   * Runs `fn` in one write transaction (on PostgreSQL under the cluster-wide write lock); resolves
   * once COMMIT returned, rejects (rolled back) when `fn` or COMMIT failed, or with
   * CommitOutcomeUnknown when the connection broke after COMMIT was sent.
   */
  transaction(fn: (tx: Tx) => Promise<void>): Promise<void>;
  /** The database is out of reach (not a method's failure): the whole batch fails, UNAVAILABLE. */
  unavailable(err: unknown): boolean;
  /** The disk holding the database is full (SQLITE_FULL, PostgreSQL 53100): the whole batch fails, INSUFFICIENT_STORAGE. */
  full(err: unknown): boolean;
  /**
   * Called after each batch's replies left (never on the commit path): SQLite checkpoints
   * its WAL here when it grew past its limit, and truncates it after a full disk, so freeing a few
   * MB is enough for writes to resume. PostgreSQL: nothing.
   */
  afterBatch(failedFull: boolean): void;
  /** Whether the last committed transaction changed anything (a write that needed room succeeded). */
  wrote(): boolean;
  /**
   * After a full disk, while no write comes: tries a write that changes nothing but
   * needs room (SQLite: the header page through the WAL); true when it committed. PostgreSQL:
   * false — its next real write tells.
   */
  probeRoom(): boolean;
  /** The database already rolled the transaction back on its own (SQLite on a full disk, an I/O error). */
  aborted(): boolean;
  schemaVersion(tx: Tx): Promise<number>;
  /** Test hook: holds the writer (and, on PostgreSQL, the write lock) for `ms`. */
  sleep(tx: Tx, ms: number): Promise<void>;
  /** Returns up to `pages` free pages to the file system (SQLite); PostgreSQL's autovacuum does it. */
  vacuum(tx: Tx, pages: number): Promise<{ freed: number; free_pages: number; page_count: number; page_size: number }>;
  close(): Promise<void>;
}
