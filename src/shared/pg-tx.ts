/**
 * Transactions on PostgreSQL that a lost connection fails, never the process (cluster mode):
 * the front's snapshot reads, the copy between the stores, the migrations. (The
 * writer thread keeps its own version of this, workers/writer/pg/driver.ts.)
 *
 * postgres.js 3.4.9 (porsager/postgres#1208, #1154; fixes proposed in #1209, #1215, not released):
 * when the body of `sql.begin` fails after its connection closed (PostgreSQL restarted, the
 * session was terminated), the driver sends its ROLLBACK on that connection anyway, and its
 * COMMIT when the body returns after the close; a statement's bytes are written from a
 * setImmediate, by when the socket is null, and `Cannot read properties of null (reading
 * 'write')` is thrown outside every promise: an uncaught exception, which ended the whole node.
 * That connection is left unable to connect again too (the failed write stays queued in front of
 * its next start-up message), so a pool whose connections met it hangs: each later query waits
 * for a connection that never comes. The driver refuses a statement instead of writing it only on
 * a connection it terminated: once the client is ended.
 *
 * Patching the driver (as #1209 and #1215 would) was the other way. It was not taken: the fix
 * touches its connection state in several places its own test suite covers and ours cannot, and
 * an install that skips scripts would silently drop a patch applied at install time. This keeps
 * the workaround in koor's code, tested here (test/cluster/pg-tx.test.ts, pg-reads.test.ts), and
 * harmless once a fixed release is taken.
 *
 * So a transaction here runs on a client that nothing else shares (no LISTEN, no plain reads),
 * and the client is dropped whole as soon as the transaction fails for a lost connection: it is
 * ended at once (`end({ timeout: 0 })` terminates its connections), and the body's failure is
 * held until then, so that the ROLLBACK postgres.js sends next is refused, not written; a body
 * that succeeded after the loss is held the same way before its COMMIT. Other transactions on
 * the dropped client fail as unavailable too (a restart loses their connections anyway).
 *
 * A body must await nothing but statements on `tx` (synchronous work between them is fine), must
 * not catch a statement's failure to go on with another statement, and must not use savepoints:
 * between a connection's close and the client's end, no new statement may be sent on it.
 */
import type { Sql, TransactionSql } from 'postgres';
import { isDatabaseUnavailable, Reconnects } from './pg-errors.js';

/**
 * `fn` in a transaction (`options`: what follows BEGIN) on `sql`, which is ended at once when a
 * connection of it is lost meanwhile; then the loss is thrown (DATABASE_UNAVAILABLE), whatever
 * the body made of it. `onDrop` learns that `sql` is being ended.
 */
export async function beginOrDrop<T>(sql: Sql, options: string, fn: (tx: TransactionSql) => Promise<T>, onDrop?: (err: Error) => void): Promise<T> {
  /** The failure that showed a connection lost (null while none was), and `sql` ending for it. */
  let lost: Error | null = null;
  let ended: Promise<void> = Promise.resolve();
  const drop = (err: unknown) => {
    if (lost) return;
    lost = err instanceof Error ? err : new Error(String(err));
    ended = sql.end({ timeout: 0 }).then(
      () => {},
      () => {},
    );
    onDrop?.(lost);
  };
  try {
    return (await sql.begin(options, async (tx) => {
      try {
        const r = await fn(tx);
        // Lost while the body ran (the transaction failed from outside): no COMMIT either.
        if (lost) await ended;
        return r;
      } catch (e) {
        if (isDatabaseUnavailable(e)) drop(e);
        if (lost) await ended;
        throw e;
      }
    })) as T;
  } catch (e) {
    // postgres.js fails the transaction itself when its connection closes, body or not.
    if (isDatabaseUnavailable(e)) drop(e);
    if (lost) throw isDatabaseUnavailable(e) ? e : lost;
    throw e;
  }
}

/**
 * Transactions on a client of their own (beginOrDrop), opened again after one was dropped. When
 * a new client could not connect, the next try waits PG_RECONNECT_BACKOFF_MS, doubling up to
 * the max, and transactions meanwhile fail at once as unavailable (PostgreSQL is down: a 503
 * then costs nothing).
 */
export class TxClient {
  private sql: Sql | null = null;
  /** When the next client may be opened after one failed to connect. */
  private readonly reconnects = new Reconnects();

  /** `open` makes a client (postgres.js connects on its first statement). */
  constructor(private readonly open: () => Sql) {}

  /** `fn` in a transaction (`options`: what follows BEGIN, e.g. an isolation level). */
  async begin<T>(options: string, fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
    const sql = this.client();
    /** BEGIN answered: the client connected. */
    let begun = false;
    const r = await beginOrDrop(
      sql,
      options,
      (tx) => {
        begun = true;
        return fn(tx);
      },
      (err) => {
        // The first transaction to drop a client decides; the others on it only fail with it.
        if (this.sql !== sql) return;
        this.sql = null;
        // Connected before: the next transaction connects anew at once.
        if (begun) this.reconnects.connected();
        else this.reconnects.failed(err);
      },
    );
    this.reconnects.connected();
    return r;
  }

  /** Ends the client in use (and with it every transaction still open on it). */
  async end(opts: { timeout: number }): Promise<void> {
    const sql = this.sql;
    this.sql = null;
    await sql?.end(opts);
  }

  private client(): Sql {
    if (this.sql) return this.sql;
    this.reconnects.check();
    this.sql = this.open();
    return this.sql;
  }
}
