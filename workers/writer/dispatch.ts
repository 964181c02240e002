import type { AuditTag, ReplyEnvelope, ReqOf, ResOf } from '../../schemas/rpc/envelope.js';
import type { WriterMethod, WriterMethods } from '../../schemas/rpc/writer.js';
import { admit, failReply as fail, failedBatch } from './check.js';
import { schemaVersion, vacuumStep, type DB } from './db.js';
import { Fault } from './fault.js';
import { stateStore } from './stores/state.js';
import { specStore } from './stores/specs.js';
import { eventStore } from './stores/events.js';
import { instanceStore } from './stores/instances.js';
import { ruleStore } from './stores/rules.js';
import { templateStore } from './stores/templates.js';
import { complianceStore } from './stores/compliance.js';
import { webhookStore } from './stores/webhooks.js';
import { auditStore } from './stores/audit.js';
import { opsStore } from './stores/ops.js';
import { leaseStore } from './stores/leases.js';
import { taskStore } from './stores/tasks.js';
import { threadId } from 'node:worker_threads';

/** Where the dispatcher reports unexpected failures (the writer's pino logger). */
export interface FaultLog {
  error(obj: Record<string, unknown>, msg: string): void;
}

/** Thrown inside the batch when SQLite has already rolled the transaction back. */
class BatchAborted extends Error {}
/** Thrown inside a fast batch when a method failed: roll back, run the batch again guarded. */
class Replay extends Error {}
const REPLAY = Symbol('replay');

type Handlers = { [K in WriterMethod]: (req: ReqOf<WriterMethods, K>) => ResOf<WriterMethods, K> };

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The writer's dispatcher: validates envelopes and requests, executes a batch inside ONE
 * transaction (group commit) so that a failed envelope rolls back alone (see inBatch), and
 * returns the replies. Replies must be posted only after this returns (= COMMIT).
 */
export function createDispatcher(
  db: DB,
  opts: { testHooks?: boolean; log?: FaultLog; stateHistoryKeep?: number; webhookBacklogMax?: number; webhookDisableAfter?: number } = {},
) {
  const state = stateStore(db, opts.stateHistoryKeep ?? 0);
  const specs = specStore(db);
  const events = eventStore(db, { webhookBacklogMax: opts.webhookBacklogMax ?? 10_000 });
  const instances = instanceStore(db, events);
  const leases = leaseStore(db, events);
  const tasks = taskStore(db, events);
  /** An agent that went stale or was deregistered holds nothing any more (SPEC §8.8). */
  const letGo = (holder: string, why: 'stale' | 'deregistered') => [...leases.releaseHolder(holder, why), ...tasks.releaseHolder(holder, why)];
  const rules = ruleStore(db);
  const compliance = complianceStore(db);
  const templates = templateStore(db);
  const webhooks = webhookStore(db, { disableAfter: opts.webhookDisableAfter ?? 10 });
  const audit = auditStore(db);
  const ops = opsStore(db);
  const handlers: Handlers = {
    'sys.ping': () => ({ threadId, schema_version: schemaVersion(db) }),
    'sys.sleep': (req) => {
      if (!opts.testHooks) throw new Fault('INVALID_ARGUMENT', 'unknown method: sys.sleep');
      sleepSync(req.ms);
      return {};
    },
    'state.put': state.put,
    'state.delete': state.delete,
    'state.rollback': state.rollback,
    'state.prune_history': state.pruneHistory,
    'db.vacuum': (req) => vacuumStep(db, req.pages),
    'spec.put': specs.put,
    'spec.delete': specs.delete,
    'events.publish': events.publish,
    'events.prune': events.prune,
    'instances.register': instances.register,
    'instances.touch': (req) => {
      const r = instances.touch(req);
      // A heartbeat (or activate) is the sign of life that renews the holder's TTL leases.
      if (req.op !== 'touch') leases.renewHolder(req.id);
      return r;
    },
    'instances.update': instances.update,
    'instances.deregister': (req) => ({ ...instances.deregister(req), events: letGo(req.id, 'deregistered') }),
    'instances.mark_stale': (req) => {
      const r = instances.markStale(req);
      return { stale: r.stale, events: [...r.events, ...r.stale.flatMap((i) => letGo(i.id, 'stale'))] };
    },
    'leases.acquire': leases.acquire,
    'leases.renew': leases.renew,
    'leases.release': leases.release,
    'leases.expire': leases.expire,
    'tasks.create': tasks.create,
    'tasks.claim': tasks.claim,
    'tasks.complete': tasks.complete,
    'tasks.fail': tasks.fail,
    'tasks.release': tasks.release,
    'rules.propose': rules.propose,
    'rules.replace': rules.replace,
    'rules.decide': rules.decide,
    'rules.delete': rules.delete,
    'rules.import': rules.import,
    'templates.create': templates.create,
    'templates.delete': templates.delete,
    'compliance.record': compliance.record,
    'webhooks.create': webhooks.create,
    'webhooks.delete': webhooks.delete,
    'webhooks.settle': webhooks.settle,
    'agent_metrics.add': ops.addMetrics,
    'llm.record': ops.recordLlm,
    'ops.prune': ops.prune,
  };

  // Built once: better-sqlite3's transaction() prepares its BEGIN/COMMIT/SAVEPOINT statements.
  const inSavepoint = db.transaction((fn: () => unknown) => fn());
  /**
   * Two ways to run a batch. Fast: methods run straight in the batch transaction; the first one
   * that throws aborts the attempt (it may have written part of its work), the transaction rolls
   * back and the batch is run again guarded. Guarded: each envelope in its own savepoint, so a
   * failed one rolls back alone (a SAVEPOINT + RELEASE pair costs ~2 µs per write).
   */
  const inBatch = db.transaction((batch: readonly unknown[], replies: ReplyEnvelope[], guarded: boolean) => {
    for (const raw of batch) {
      const r = execOne(raw, guarded);
      if (r === REPLAY) throw new Replay();
      replies.push(r);
      // Some errors (SQLITE_FULL, IOERR, NOMEM) make SQLite roll the whole transaction back.
      // Running on would commit later envelopes one by one outside the batch: stop here.
      if (!db.inTransaction) throw new BatchAborted();
    }
  });
  /** A method failed in the last guarded batch: stay guarded until a batch runs without one. */
  let guardedNext = false;
  let methodFailed = false;

  /** An audit failure never fails the write it describes (SPEC §2.13); it is logged. */
  function recordAudit(method: string, req: unknown, res: unknown, tag: AuditTag, id: number): void {
    try {
      audit.record(method, req, res, tag);
    } catch (e) {
      opts.log?.error({ err: e, method, id }, 'audit entry not recorded');
    }
  }

  function execOne(raw: unknown, guarded: boolean): ReplyEnvelope | typeof REPLAY {
    const admitted = admit(raw, (m) => m in handlers);
    if ('reply' in admitted) return admitted.reply;
    const env = admitted.env;
    const handler = (handlers as Record<string, (req: unknown) => unknown>)[env.method]!;
    const exec = () => {
      const r = handler(env.req);
      if (env.audit) recordAudit(env.method, env.req, r, env.audit, env.id);
      return r;
    };
    if (!guarded) {
      try {
        return { id: env.id, ok: true, res: exec() };
      } catch {
        return REPLAY;
      }
    }
    try {
      // Savepoint: a failed method rolls back its own partial writes, not the batch.
      return { id: env.id, ok: true, res: inSavepoint(exec) };
    } catch (e) {
      methodFailed = true;
      if (e instanceof Fault) return fail(env.id, e);
      // Not a known fault: a bug or an environment failure. The client gets a generic 500; the
      // cause and stack go to the log with the method, so the operator can see what happened.
      opts.log?.error({ err: e, method: env.method, id: env.id }, `writer method ${env.method} failed`);
      return { id: env.id, ok: false, err: { status: 'INTERNAL', message: `failed to ${env.method}` } };
    }
  }

  /** One attempt at the batch; false when the fast attempt must be replayed guarded. */
  function attempt(batch: readonly unknown[], replies: ReplyEnvelope[], guarded: boolean): boolean {
    try {
      inBatch.immediate(batch, replies, guarded);
      state.endBatch(true);
      return true;
    } catch (e) {
      state.endBatch(false);
      if (e instanceof Replay) return false;
      throw e;
    }
  }

  return {
    /**
     * Runs `batch` in one IMMEDIATE transaction. If the transaction fails (COMMIT, or SQLite
     * rolled it back mid-batch), nothing in it is acknowledged: every envelope that had not
     * already failed on its own gets INTERNAL, including those that never ran.
     */
    run(batch: readonly unknown[]): { replies: ReplyEnvelope[]; commitError?: unknown } {
      let replies: ReplyEnvelope[] = [];
      try {
        if (!guardedNext && attempt(batch, replies, false)) return { replies };
        replies = [];
        methodFailed = false;
        attempt(batch, replies, true);
        guardedNext = methodFailed;
        return { replies };
      } catch (commitError) {
        return { commitError, replies: failedBatch(batch, replies, { status: 'INTERNAL', message: 'failed to commit' }) };
      }
    },
  };
}
