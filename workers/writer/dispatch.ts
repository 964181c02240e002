import type { AuditTag, IdemTag, ReplyEnvelope, RequestEnvelope } from '../../schemas/rpc/envelope.js';
import { admit, failReply, failedBatch } from './check.js';
import { Fault, fault } from './fault.js';
import { writerMethods, type MethodOptions } from './methods.js';
import { CommitOutcomeUnknown, SyncFailedAfterCommit, type Driver, type Tx } from './sql.js';
import { AUDIT_INSERT, auditEntry, insertAuditRows, type AuditRow } from './stores/audit.js';
import { FIRST, priorResult, recordResult } from './idempotency.js';
import { changesMark, rollBackChanges } from './stores/changes.js';
import { storageNow } from '../../schemas/db/time.js';
import { pending, type Awaitable } from '../../src/shared/awaitable.js';
import { isUnstorableText } from '../../src/shared/pg-errors.js';

/** Where the dispatcher reports unexpected failures (the writer's pino logger). */
export interface FaultLog {
  error(obj: Record<string, unknown>, msg: string): void;
}

/** Thrown inside the batch when the database has already rolled the transaction back. */
class BatchAborted extends Error {}
/** A guarded batch whose statements sent without waiting failed at its end: it rolled back whole. */
class GuardedRolledBack extends Error {
  constructor() {
    super('a statement of the batch failed after its savepoint: the batch rolled back');
  }
}
/** Thrown inside a fast batch when a method failed: roll back, run the batch again guarded. */
class Replay extends Error {}
const REPLAY = Symbol('replay');

type AnyHandler = (tx: Tx, req: unknown) => Awaitable<unknown>;

/**
 * The writer's dispatcher, one for both backends: validates envelopes and requests, executes a
 * batch inside ONE transaction (group commit) so that a failed envelope rolls back alone, and
 * returns the replies. Replies must be posted only after `run` resolved (= COMMIT returned).
 *
 * Two ways to run a batch. Fast: methods run straight in the batch transaction; the first one
 * that throws aborts the attempt (it may have written part of its work), the transaction rolls
 * back and the batch is run again guarded: each envelope in its own savepoint, so a failed one
 * rolls back alone (a savepoint costs ~2 µs per write on SQLite, a round trip on PostgreSQL).
 * Batches stay guarded while failures continue.
 */
export function createDispatcher(driver: Driver, opts: MethodOptions & { log?: FaultLog } = {}) {
  const { handlers, endBatch } = writerMethods(driver, opts);
  const has = (m: string) => Object.prototype.hasOwnProperty.call(handlers, m);
  /** A method failed in the last guarded batch: stay guarded until a batch runs without one. */
  let guardedNext = false;
  let methodFailed = false;

  /** The fast attempt's audit rows, inserted together before it commits. */
  let auditRows: AuditRow[] = [];

  /**
   * An audit failure never fails the write it describes. Fast path: gathered with
   * the batch's other rows and inserted at its end, a few statements for the whole batch (on
   * PostgreSQL without a round trip of their own); if that fails, the attempt fails and the batch
   * is replayed guarded. Guarded: in its own savepoint, so a failing entry is logged and the
   * write stands.
   */
  function recordAuditFast(env: RequestEnvelope, res: unknown, tag: AuditTag): void {
    const e = auditEntry(env.method, env.req, res, tag);
    if (e !== null) auditRows.push([storageNow(), tag.actor, e.action, e.resource, e.detail]);
  }

  async function recordAuditGuarded(tx: Tx, env: RequestEnvelope, res: unknown, tag: AuditTag): Promise<void> {
    const e = auditEntry(env.method, env.req, res, tag);
    if (e === null) return;
    try {
      await tx.savepoint(() => tx.run(AUDIT_INSERT, storageNow(), tag.actor, e.action, e.resource, e.detail));
    } catch (err) {
      if (driver.unavailable(err) || driver.aborted()) throw err;
      opts.log?.error({ err, method: env.method, id: env.id }, 'audit entry not recorded');
    }
  }

  async function execOne(tx: Tx, raw: unknown, guarded: boolean): Promise<ReplyEnvelope | typeof REPLAY> {
    const admitted = admit(raw, has);
    if ('reply' in admitted) return admitted.reply;
    const env = admitted.env;
    const handler = (handlers as unknown as Record<string, AnyHandler>)[env.method]!;
    const idem = env.idem ? (env as RequestEnvelope & { idem: IdemTag }) : null;
    if (!guarded) {
      try {
        // A retry of an idempotent write: its first result, nothing written, nothing audited.
        const prior = idem ? await priorResult(tx, idem) : FIRST;
        if (prior !== FIRST) return { id: env.id, ok: true, res: prior, replayed: true };
        // Awaited only when it is a promise: a SQLite PUT answers at once.
        const answer = handler(tx, env.req);
        const res = pending(answer) ? await answer : answer;
        if (idem) recordResult(tx, idem, res, false);
        if (env.audit) recordAuditFast(env, res, env.audit);
        return { id: env.id, ok: true, res };
      } catch (e) {
        if (driver.unavailable(e)) throw e;
        return REPLAY;
      }
    }
    // A failed envelope's savepoint gives back the revisions it took (SQLite hands them out again).
    const mark = changesMark();
    try {
      let replayed = false;
      const exec = async () => {
        const prior = idem ? await priorResult(tx, idem) : FIRST;
        if (prior !== FIRST) {
          replayed = true;
          return prior;
        }
        const r = await handler(tx, env.req);
        if (idem) await recordResult(tx, idem, r, true);
        if (env.audit) await recordAuditGuarded(tx, env, r, env.audit);
        return r;
      };
      const res = await tx.savepoint(exec);
      return replayed ? { id: env.id, ok: true, res, replayed: true } : { id: env.id, ok: true, res };
    } catch (e) {
      rollBackChanges(mark);
      if (driver.unavailable(e) || driver.full(e)) throw e;
      methodFailed = true;
      if (e instanceof Fault) return failReply(env.id, e);
      if (isUnstorableText(e)) return failReply(env.id, fault('TEXT_NUL', env.method));
      // Not a known fault: a bug or an environment failure. The client gets a generic 500; the
      // cause and stack go to the log with the method, so the operator can see what happened.
      opts.log?.error({ err: e, method: env.method, id: env.id }, `writer method ${env.method} failed`);
      return { id: env.id, ok: false, err: fault('OPERATION_FAILED', env.method).toWire() };
    }
  }

  /** One attempt at the batch; false when the fast attempt must be replayed guarded. */
  async function attempt(batch: readonly unknown[], replies: ReplyEnvelope[], guarded: boolean): Promise<boolean> {
    auditRows = [];
    try {
      await driver.transaction(async (tx) => {
        for (const raw of batch) {
          const r = await execOne(tx, raw, guarded);
          if (r === REPLAY) throw new Replay();
          replies.push(r);
          // Some errors (SQLite's FULL, IOERR, NOMEM) roll the whole transaction back. Running on
          // would commit later envelopes one by one outside the batch: stop here.
          if (driver.aborted()) throw new BatchAborted();
        }
        // The fast path's audit rows, then what was sent without waiting: a failure fails the attempt.
        try {
          if (auditRows.length > 0) insertAuditRows(tx.send, auditRows);
          await tx.flush();
        } catch (e) {
          if (driver.unavailable(e)) throw e;
          throw new Replay();
        }
      });
      endBatch(true);
      return true;
    } catch (e) {
      // COMMIT returned though its sync failed: the batch's changes are committed (readers see them).
      endBatch(e instanceof SyncFailedAfterCommit);
      if (e instanceof Replay) return false;
      throw e;
    }
  }

  return {
    /**
     * Runs `batch` in one transaction. If the transaction fails (COMMIT, the database rolled it
     * back mid-batch, or it is out of reach), nothing in it is acknowledged: every envelope that
     * had not already failed on its own gets INTERNAL — UNAVAILABLE when the database could not
     * be reached before COMMIT was sent (nothing committed: retry), OUTCOME_UNKNOWN when the
     * connection broke after it was sent (it may have committed).
     */
    async run(batch: readonly unknown[]): Promise<{ replies: ReplyEnvelope[]; commitError?: unknown }> {
      let replies: ReplyEnvelope[] = [];
      try {
        if (!guardedNext && (await attempt(batch, replies, false))) return { replies };
        replies = [];
        methodFailed = false;
        if (!(await attempt(batch, replies, true))) {
          // What the guarded attempt sent without waiting failed at its end (PostgreSQL: a pipelined
          // statement), and the transaction rolled back: nothing in it may be acknowledged.
          guardedNext = true;
          throw new GuardedRolledBack();
        }
        guardedNext = methodFailed;
        return { replies };
      } catch (commitError) {
        const err =
          commitError instanceof CommitOutcomeUnknown
            ? (method: string) => fault('WRITE_OUTCOME_UNKNOWN', method)
            : driver.unavailable(commitError)
              ? fault('DATABASE_UNAVAILABLE')
              : driver.full(commitError)
                ? fault('STORAGE_FULL')
                : fault('OPERATION_FAILED', 'commit');
        return { commitError, replies: failedBatch(batch, replies, err) };
      }
    },
  };
}
