import type { Sql, TransactionSql } from 'postgres';
import type { AuditTag, ReplyEnvelope } from '../../schemas/rpc/envelope.js';
import { auditEntry } from '../writer/stores/audit.js';
import { admit, failReply, failedBatch } from '../writer/check.js';
import { Fault } from '../writer/fault.js';
import { storageNow } from '../writer/db.js';
import { isDatabaseUnavailable } from '../../src/shared/pg.js';
import { WRITE_LOCK } from './tx.js';
import { pgStores, type PgHandlers, type PgStoreOptions } from './stores/index.js';

/** Where the dispatcher reports unexpected failures (the writer's pino logger). */
export interface FaultLog {
  error(obj: Record<string, unknown>, msg: string): void;
}


/** Thrown inside a fast batch when a method failed: roll back, run the batch again guarded. */
class Replay extends Error {}
const REPLAY = Symbol('replay');

/**
 * The PostgreSQL writer's dispatcher (cluster mode): the same contract as the SQLite one
 * (workers/writer/dispatch.ts) — a batch runs in ONE transaction (group commit), replies count
 * only once COMMIT returned, a failed method leaves no trace and does not fail the others —
 * with async methods. Each batch first takes the cluster-wide write lock (WRITE_LOCK), so
 * batches of every node apply one after another, as behind SQLite's single writer.
 *
 * Fast path: methods run straight in the transaction; the first that throws aborts the attempt,
 * the transaction rolls back and the batch runs again guarded (a savepoint per envelope), and
 * batches stay guarded while failures continue.
 */
export function createPgDispatcher(sql: Sql, opts: PgStoreOptions & { testHooks?: boolean; log?: FaultLog } = {}) {
  const stores = pgStores(opts);
  const handlers: PgHandlers = {
    ...stores.handlers,
    'sys.ping': async (tx) => {
      const [r] = await tx<{ v: number }[]>`SELECT coalesce(max(version), 0)::int AS v FROM koor_schema`;
      return { threadId: 0, schema_version: r?.v ?? 0 };
    },
    'sys.sleep': async (tx, req) => {
      if (!opts.testHooks) throw new Fault('INVALID_ARGUMENT', 'unknown method: sys.sleep');
      await tx`SELECT pg_sleep(${req.ms / 1000})`;
      return {};
    },
    // PostgreSQL's autovacuum returns space on its own; there is nothing to step through.
    'db.vacuum': async () => ({ freed: 0, free_pages: 0, page_count: 0, page_size: 8192 }),
  };
  const has = (m: string) => Object.prototype.hasOwnProperty.call(handlers, m);
  let guardedNext = false;
  let methodFailed = false;

  /**
   * An audit failure never fails the write it describes (SPEC §2.13). Fast path: a plain INSERT,
   * sent and not awaited (it rides with the next statement, no round trip of its own; `sent`
   * collects it for the end of the batch) — a failure aborts the transaction, so the attempt fails
   * and the batch is replayed guarded; guarded: in its own savepoint, so a failing INSERT is
   * logged and the write stands.
   */
  async function recordAudit(tx: TransactionSql, env: { method: string; req: unknown; id: number }, res: unknown, tag: AuditTag, sent: Promise<unknown>[] | null): Promise<void> {
    const e = auditEntry(env.method, env.req, res, tag);
    if (e === null) return;
    const insert = (t: TransactionSql) => t`INSERT INTO audit_log (timestamp, actor, action, resource, detail, outcome) VALUES (${storageNow()}, ${tag.actor}, ${e.action}, ${e.resource}, ${e.detail}, 'success')`;
    if (sent !== null) {
      const p = insert(tx).execute();
      p.catch(() => {});
      sent.push(p);
      return;
    }
    try {
      await tx.savepoint(insert);
    } catch (err) {
      if (isDatabaseUnavailable(err)) throw err;
      opts.log?.error({ err, method: env.method, id: env.id }, 'audit entry not recorded');
    }
  }

  async function execOne(tx: TransactionSql, raw: unknown, guarded: boolean, sent: Promise<unknown>[]): Promise<ReplyEnvelope | typeof REPLAY> {
    const admitted = admit(raw, has);
    if ('reply' in admitted) return admitted.reply;
    const env = admitted.env;
    const handler = (handlers as unknown as Record<string, (tx: TransactionSql, req: unknown) => Promise<unknown>>)[env.method]!;
    const exec = async (t: TransactionSql) => {
      const r = await handler(t, env.req);
      if (env.audit) await recordAudit(t, env, r, env.audit, guarded ? null : sent);
      return r;
    };
    if (!guarded) {
      try {
        return { id: env.id, ok: true, res: await exec(tx) };
      } catch (e) {
        if (isDatabaseUnavailable(e)) throw e;
        return REPLAY;
      }
    }
    try {
      return { id: env.id, ok: true, res: await tx.savepoint((sp) => exec(sp)) };
    } catch (e) {
      if (isDatabaseUnavailable(e)) throw e;
      methodFailed = true;
      if (e instanceof Fault) return failReply(env.id, e);
      opts.log?.error({ err: e, method: env.method, id: env.id }, `writer method ${env.method} failed`);
      return { id: env.id, ok: false, err: { status: 'INTERNAL', message: `failed to ${env.method}` } };
    }
  }

  async function attempt(batch: readonly unknown[], replies: ReplyEnvelope[], guarded: boolean): Promise<boolean> {
    try {
      await sql.begin(async (tx) => {
        // Sent, not awaited: the batch's first statement follows it in the same round trip
        // (postgres.js pipelines a connection's queries; PostgreSQL runs them in order, so that
        // statement runs once the lock is held, and fails if taking it failed).
        const locked = tx`SELECT pg_advisory_xact_lock(${WRITE_LOCK})`.execute();
        locked.catch(() => {});
        const sent: Promise<unknown>[] = [];
        for (const raw of batch) {
          const r = await execOne(tx, raw, guarded, sent);
          if (r === REPLAY) throw new Replay();
          replies.push(r);
        }
        await locked;
        // Statements sent without waiting (fast-path audit entries): one that failed fails the attempt.
        try {
          await Promise.all(sent);
        } catch (e) {
          if (isDatabaseUnavailable(e)) throw e;
          throw new Replay();
        }
      });
      stores.endBatch(true);
      return true;
    } catch (e) {
      stores.endBatch(false);
      if (e instanceof Replay) return false;
      throw e;
    }
  }

  return {
    /**
     * Runs `batch` in one transaction. If the transaction fails (PostgreSQL unreachable, COMMIT
     * refused), nothing in it is acknowledged: UNAVAILABLE when PostgreSQL could not be reached
     * (retry later; a COMMIT whose answer was lost may or may not have applied), else INTERNAL.
     */
    async run(batch: readonly unknown[]): Promise<{ replies: ReplyEnvelope[]; commitError?: unknown }> {
      let replies: ReplyEnvelope[] = [];
      try {
        if (!guardedNext && (await attempt(batch, replies, false))) return { replies };
        replies = [];
        methodFailed = false;
        await attempt(batch, replies, true);
        guardedNext = methodFailed;
        return { replies };
      } catch (commitError) {
        const err = isDatabaseUnavailable(commitError) ? ({ status: 'UNAVAILABLE', message: 'database unavailable' } as const) : ({ status: 'INTERNAL', message: 'failed to commit' } as const);
        return { commitError, replies: failedBatch(batch, replies, err) };
      }
    },
  };
}
