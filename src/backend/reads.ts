import type { Sql, TransactionSql } from 'postgres';
import type { Dialect, Param, Query } from '../../schemas/db/sql.js';
import type { TxClient } from '../shared/pg-tx.js';
import type { ReadDb, ReaderMap } from './read-db.js';
import type { Awaitable } from '../shared/awaitable.js';

/** One read statement, prepared once: SQLite answers at once, PostgreSQL with a promise. */
export interface ReadStatement<T> {
  get(...params: Param[]): Awaitable<T | undefined>;
  all(...params: Param[]): Awaitable<T[]>;
}

/**
 * The front's read side of a backend, as a domain's reader sees it: statements written once
 * (schemas/db/sql.ts), prepared on the front's own SQLite connection or run on the PostgreSQL
 * pool. A reader prepares its statements when it is made, so a read costs what a prepared
 * statement costs.
 */
export interface Reads {
  readonly dialect: Dialect;
  /**
   * `fromColumns`: SQLite reads each row as an array of its columns and builds T with it (for a
   * hot statement: better-sqlite3 sets each named column of a row object through V8's API, ~0.6
   * µs of a 7.5 µs point read of 7 columns). PostgreSQL's rows are T already.
   */
  statement<T>(q: Query, fromColumns?: (c: unknown[]) => T): ReadStatement<T>;
  /**
   * `fn`'s reads from one snapshot of the database. On PostgreSQL a read-only REPEATABLE READ
   * transaction, which `fn` must start all its statements in before it awaits anything; on
   * SQLite the turn's read transaction (sqliteReads' `snapshot`), `fn`'s reads answering within the turn.
   */
  consistent<T>(fn: () => Awaitable<T>): Awaitable<T>;
  /** Statements run so far (on PostgreSQL each a round trip): the `koor_db_reads_total` counter. */
  statements(): number;
}

/**
 * The front's SQLite reads of one event-loop turn, in one read transaction. Each read outside a
 * transaction takes the WAL's read lock and gives it back: two fcntl calls, ~1.7 µs of a read past
 * the value cache's ~7 (GET over 100,000 keys spent 4–6 % of the front's CPU in fcntl).
 * The first read of a turn begins the transaction; it ends in the turn's check phase (setImmediate),
 * or sooner, before the writer's replies are handled (`end`, called by the writer client): a read
 * after a write's reply is never answered from a snapshot older than that write. A SQLite writer
 * behind this process is the only one (the delivery and backup threads only read), and its
 * commits reach the front only through those replies, so reads see what they saw before: the
 * newest commit this front has been told of. The snapshot is held for part of a turn, never
 * across one: checkpoints wait at most that long for it.
 */
export interface TurnSnapshot {
  /** Begins the turn's read transaction unless one is open (each read statement calls it). */
  enter(): void;
  /** Ends it (if open): the next read sees every commit made since. */
  end(): void;
  /** Writes committed (the writer's replies land): `end`, and counted for the reader's map. */
  wrote(): void;
}

/** `map`: whether the connection maps the data file, decided from its reads and writes (the server's reader). */
export function turnSnapshot(db: ReadDb, map: ReaderMap | null = null): TurnSnapshot {
  const begin = db.prepare('BEGIN');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  let open = false;
  let scheduled = false;
  const end = (): void => {
    if (!open) return;
    open = false;
    if (!db.open || !db.inTransaction) return;
    // Never throws: it runs before the writer's replies are handled. A read transaction has
    // nothing to commit; if COMMIT fails all the same, it is rolled back rather than read from on.
    try {
      commit.run();
    } catch {
      try {
        if (db.inTransaction) rollback.run();
      } catch {
        // The connection is failing: its next read says so.
      }
    }
  };
  const endOfTurn = (): void => {
    scheduled = false;
    end();
  };
  return {
    enter() {
      map?.read();
      // Someone else's transaction on this connection (none today) is left alone.
      if (open || !db.open || db.inTransaction) return;
      map?.decide();
      try {
        begin.run();
      } catch {
        return; // the read runs on its own, as without a snapshot
      }
      open = true;
      if (!scheduled) {
        scheduled = true;
        setImmediate(endOfTurn);
      }
    },
    end,
    wrote() {
      map?.wrote();
      end();
    },
  };
}

/** `snapshot`: the reads of a turn in one read transaction (the server's); without it, each read on its own. */
export function sqliteReads(db: ReadDb, snapshot: TurnSnapshot | null = null): Reads {
  let runs = 0;
  const enter = (): void => {
    runs++;
    snapshot?.enter();
  };
  return {
    dialect: 'sqlite',
    statement<T>(q: Query, fromColumns?: (c: unknown[]) => T): ReadStatement<T> {
      if (fromColumns) {
        const s = db.prepare<Param[], unknown[]>(q.sqlite).raw(true);
        return {
          get: (...params) => {
            enter();
            const c = s.get(...params);
            return c === undefined ? undefined : fromColumns(c);
          },
          all: (...params) => {
            enter();
            return s.all(...params).map(fromColumns);
          },
        };
      }
      const s = db.prepare<Param[], T>(q.sqlite);
      return {
        get: (...params) => {
          enter();
          return s.get(...params);
        },
        all: (...params) => {
          enter();
          return s.all(...params);
        },
      };
    },
    // Within the turn's read transaction, the reads are of one snapshot (they answer within the turn).
    consistent: (fn) => {
      snapshot?.enter();
      return fn();
    },
    statements: () => runs,
  };
}

/**
 * Reads on PostgreSQL: statements on the pool `sql`, a `consistent` read's on `snapshots` (a
 * client of their own that a lost connection drops whole, src/shared/pg-tx.ts: postgres.js
 * fails a transaction that lost its connection by throwing outside every promise).
 */
export function pgReads(sql: Sql, snapshots: TxClient): Reads {
  /** Where statements go: the pool, or the transaction of a `consistent` read while it starts them. */
  let scope: Sql | TransactionSql = sql;
  /** The answers a `consistent` read's statements will give, while it starts them. */
  let started: Promise<unknown>[] | null = null;
  const track = <R>(p: Promise<R>): Promise<R> => (started?.push(p), p);
  let runs = 0;
  return {
    dialect: 'pg',
    statement<T>(q: Query): ReadStatement<T> {
      const run = (params: Param[]) => (runs++, scope.unsafe<T[]>(q.pg, params as never[], { prepare: true }));
      return {
        get: (...params) => track((async () => (await run(params))[0])()),
        // A plain array (postgres.js's row list carries more).
        all: (...params) => track((async () => [...(await run(params))])()),
      };
    },
    consistent<T>(fn: () => Awaitable<T>): Promise<T> {
      return snapshots.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
        scope = tx;
        const mine: Promise<unknown>[] = (started = []);
        let r: Awaitable<T>;
        try {
          r = fn();
        } finally {
          scope = sql;
          started = null;
        }
        // `fn` chains its statements' answers (`then`): once one fails, the ones after it are
        // never awaited, and their failure (the transaction's, or the lost connection's) would be
        // an unhandled rejection, which ends the process. The chain still fails with the first.
        for (const p of mine) p.catch(() => {});
        return await r;
      });
    },
    statements: () => runs,
  };
}
