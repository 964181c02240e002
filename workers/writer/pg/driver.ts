import type { Sql, TransactionSql } from 'postgres';
import { isDatabaseUnavailable } from '../../../src/shared/pg-errors.js';
import type { Driver, Param, Query, Tx } from '../sql.js';
import { WRITE_LOCK, bytea } from './locks.js';

const args = (params: Param[]): Param[] => params.map((p) => (p instanceof Uint8Array ? bytea(p) : p));

/**
 * A batch's transaction on PostgreSQL: statements are prepared per connection (by their text) and
 * pipelined when sent. postgres.js fails a transaction scope in which any statement failed, so a
 * savepoint is its own scope (`savepoint`), and statements go to the innermost one open.
 */
function pgTx(t: TransactionSql): Tx {
  let scope = t;
  const exec = (q: Query, params: Param[]) => scope.unsafe(q.pg, args(params) as never[], { prepare: true });
  let pending: Promise<unknown>[] = [];
  return {
    dialect: 'pg',
    get: async <T>(q: Query, ...params: Param[]) => ((await exec(q, params)) as unknown as T[])[0],
    all: async <T>(q: Query, ...params: Param[]) => [...((await exec(q, params)) as unknown as T[])],
    run: async (q: Query, ...params: Param[]) => (await exec(q, params)).count,
    insert: async (q: Query, ...params: Param[]) => ((await exec(q, params)) as unknown as Array<{ id: number }>)[0]!.id,
    send(q: Query, ...params: Param[]): void {
      const p = exec(q, params).execute();
      p.catch(() => {});
      pending.push(p);
    },
    async flush(): Promise<void> {
      const sent = pending;
      pending = [];
      await Promise.all(sent);
    },
    savepoint<T>(fn: () => Promise<T>): Promise<T> {
      const outer = scope;
      return outer.savepoint(async (inner) => {
        scope = inner;
        try {
          return await fn();
        } finally {
          scope = outer;
        }
      }) as Promise<T>;
    },
    notify: async (channel: string, payload: string) => void (await scope`SELECT pg_notify(${channel}, ${payload})`),
  };
}

/**
 * The one writer on PostgreSQL (cluster mode). Each batch first takes the cluster-wide write lock
 * (WRITE_LOCK), so batches of every node apply one after another, as behind SQLite's single
 * writer: every method keeps its exact semantics without locking of its own.
 */
export function pgDriver(sql: Sql): Driver {
  return {
    dialect: 'pg',
    async transaction(fn: (tx: Tx) => Promise<void>): Promise<void> {
      await sql.begin(async (t) => {
        // Sent, not awaited: the batch's first statement follows it in the same round trip
        // (postgres.js pipelines a connection's queries; PostgreSQL runs them in order, so that
        // statement runs once the lock is held, and fails if taking it failed).
        const locked = t`SELECT pg_advisory_xact_lock(${WRITE_LOCK})`.execute();
        locked.catch(() => {});
        await fn(pgTx(t));
        await locked;
      });
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
    close: () => sql.end({ timeout: 5 }),
  };
}

const SCHEMA_VERSION: Query = { sqlite: '', pg: 'SELECT coalesce(max(version), 0)::int AS v FROM koor_schema' };
const SLEEP: Query = { sqlite: '', pg: 'SELECT pg_sleep($1)' };
