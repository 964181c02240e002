import type { Sql, TransactionSql } from 'postgres';
import { isDatabaseUnavailable, Reconnects } from '../../../src/shared/pg-errors.js';
import { CommitOutcomeUnknown, type Driver, type Param, type Query, type Tx } from '../sql.js';
import { WRITE_LOCK, bytea } from './locks.js';

const args = (params: Param[]): Param[] => params.map((p) => (p instanceof Uint8Array ? bytea(p) : p));

/**
 * One postgres.js client of the writer, used until its connection is lost; then dropped whole.
 *
 * postgres.js (3.4.9) writes to a connection whose socket has closed when a transaction or
 * savepoint scope fails after the close — its own ROLLBACK, or a statement sent then — and that
 * write, deferred to a setImmediate, throws `Cannot read properties of null (reading 'write')`
 * outside every promise: it killed the writer thread at each PostgreSQL restart
 * (porsager/postgres#1208, #1154). A connection that closed with a write pending is also left
 * unable to send its next start-up message. So once a statement fails for a lost connection:
 * the client is ended at once (`end({ timeout: 0 })` terminates its connections, after which
 * postgres.js refuses a statement instead of writing it); no statement of ours is sent on it any
 * more; a scope's body that fails is held until the client is terminated, so the ROLLBACK
 * postgres.js then sends is refused, not written; and the next batch opens a new client.
 */
class Session {
  /** The failure that showed the connection gone (null while it works). */
  lost: Error | null = null;
  private ended: Promise<void> = Promise.resolve();

  constructor(readonly sql: Sql) {}

  /** Sees `q`'s failure before whoever awaits it (its first handler), and `q` runs now. */
  watch<T extends Promise<unknown>>(q: T): T {
    q.catch((e: unknown) => {
      if (isDatabaseUnavailable(e)) this.lose(e);
    });
    return q;
  }

  lose(err: unknown): void {
    if (this.lost) return;
    this.lost = err instanceof Error ? err : new Error(String(err));
    this.ended = this.sql.end({ timeout: 0 }).then(
      () => {},
      () => {},
    );
  }

  /** A postgres.js scope's body: when it fails after the loss, it fails once the client is terminated. */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (this.lost) await this.ended;
      throw e;
    }
  }
}

/**
 * A batch's transaction on PostgreSQL: statements are prepared per connection (by their text) and
 * pipelined when sent. postgres.js fails a transaction scope in which any statement failed, so a
 * savepoint is its own scope (`savepoint`), and statements go to the innermost one open.
 */
function pgTx(t: TransactionSql, s: Session): Tx {
  let scope = t;
  const exec = (q: Query, params: Param[]) => (s.lost ? Promise.reject(s.lost) : s.watch(scope.unsafe(q.pg, args(params) as never[], { prepare: true }).execute()));
  let pending: Promise<unknown>[] = [];
  return {
    dialect: 'pg',
    sync: null,
    get: async <T>(q: Query, ...params: Param[]) => ((await exec(q, params)) as unknown as T[])[0],
    all: async <T>(q: Query, ...params: Param[]) => [...((await exec(q, params)) as unknown as T[])],
    run: async (q: Query, ...params: Param[]) => (await exec(q, params)).count,
    insert: async (q: Query, ...params: Param[]) => ((await exec(q, params)) as unknown as Array<{ id: number }>)[0]!.id,
    send(q: Query, ...params: Param[]): void {
      const p = exec(q, params);
      p.catch(() => {});
      pending.push(p);
    },
    async flush(): Promise<void> {
      const sent = pending;
      pending = [];
      await Promise.all(sent);
    },
    savepoint<T>(fn: () => Promise<T>): Promise<T> {
      if (s.lost) return Promise.reject(s.lost);
      const outer = scope;
      return s.watch(
        outer.savepoint((inner) =>
          s.hold(async () => {
            scope = inner;
            try {
              return await fn();
            } finally {
              scope = outer;
            }
          }),
        ) as Promise<T>,
      );
    },
    notify: async (channel: string, payload: string) => {
      if (s.lost) throw s.lost;
      await s.watch(scope`SELECT pg_notify(${channel}, ${payload})`.execute());
    },
  };
}

/**
 * The one writer on PostgreSQL (cluster mode). Each batch first takes the cluster-wide write lock
 * (WRITE_LOCK), so batches of every node apply one after another, as behind SQLite's single
 * writer: every method keeps its exact semantics without locking of its own.
 *
 * A lost connection (PostgreSQL restarted, the session terminated, the network cut) fails the
 * batch, never the thread: the client is dropped (Session) and the next batch opens a new one.
 * When opening fails, the next try waits PG_RECONNECT_BACKOFF_MS, doubling up to the max, and
 * batches meanwhile fail at once as unavailable. A batch whose connection broke before COMMIT
 * was sent certainly did not commit (unavailable: 503); after, it may have (CommitOutcomeUnknown).
 *
 * `open` makes a client (the first one given, as `first`, when the caller already has it).
 */
export function pgDriver(open: () => Sql, first?: Sql): Driver {
  let current = new Session(first ?? open());
  /** When the next connection may be tried after one failed (a batch refused meanwhile is told why). */
  const reconnects = new Reconnects();

  const session = (): Session => {
    if (!current.lost) return current;
    reconnects.check();
    current = new Session(open());
    return current;
  };

  return {
    dialect: 'pg',
    async transaction(fn: (tx: Tx) => Promise<void>): Promise<void> {
      const s = session();
      /** BEGIN answered: the connection worked. */
      let begun = false;
      /** `fn` and the lock succeeded: postgres.js sends COMMIT as soon as the body returns. */
      let committing = false;
      try {
        await s.sql.begin((t) =>
          s.hold(async () => {
            begun = true;
            // Sent, not awaited: the batch's first statement follows it in the same round trip
            // (postgres.js pipelines a connection's queries; PostgreSQL runs them in order, so that
            // statement runs once the lock is held, and fails if taking it failed).
            const locked = s.watch(t`SELECT pg_advisory_xact_lock(${WRITE_LOCK})`.execute());
            await fn(pgTx(t, s));
            await locked;
            committing = true;
          }),
        );
        reconnects.connected();
      } catch (e) {
        if (!s.lost && !isDatabaseUnavailable(e)) throw e;
        s.lose(e);
        // Connected before: reconnect with the next batch.
        if (begun) reconnects.connected();
        else reconnects.failed(s.lost);
        if (committing) throw new CommitOutcomeUnknown(s.lost);
        // The loss, whatever the batch made of it (a method's failure, a replay).
        throw isDatabaseUnavailable(e) ? e : s.lost;
      }
    },
    unavailable: isDatabaseUnavailable,
    full: (err: unknown) => (err as { code?: unknown } | null)?.code === '53100',
    afterBatch: () => {},
    wrote: () => true,
    probeRoom: () => false,
    aborted: () => false,
    async schemaVersion(tx: Tx): Promise<number> {
      return (await tx.get<{ v: number }>(SCHEMA_VERSION))?.v ?? 0;
    },
    sleep: async (tx, ms) => void (await tx.get(SLEEP, ms / 1000)),
    // PostgreSQL's autovacuum returns space on its own; there is nothing to step through.
    vacuum: async () => ({ freed: 0, free_pages: 0, page_count: 0, page_size: 8192 }),
    close: () => current.sql.end({ timeout: 5 }),
  };
}

const SCHEMA_VERSION: Query = { sqlite: '', pg: 'SELECT coalesce(max(version), 0)::int AS v FROM koor_schema' };
const SLEEP: Query = { sqlite: '', pg: 'SELECT pg_sleep($1)' };
