import { Type } from '../typebox.js';
import type { MethodTable } from './envelope.js';
import { CheckpointRow, Event, Instance, LeaseRow, TaskRow } from './writer-rows.js';
import { TASK } from '../db/tables/tasks.js';

/** The coordination writer methods (instances, leases, tasks), part of WriterMethods (schemas/rpc/writer.ts). */

/** Events a method stored in its own transaction, for the front to fan out (in id order). */
const Events = Type.Array(Event);

/** complete / fail / release of a claimed task, by its claimer (`holder`). */
const TaskSettle = Type.Object({
  id: Type.Integer(),
  holder: Type.String({ minLength: 1 }),
  reason: Type.String(),
  /** fail only: false = failed for good; else back to ready while attempts < max_attempts. */
  retry: Type.Boolean(),
  /** The claim's fencing token, when the caller gave one: an outdated one is refused. */
  fence: Type.Optional(Type.Integer()),
});

export const CoordMethods = {
  'instances.register': {
    req: Type.Object({
      name: Type.String({ minLength: 1 }),
      workspace: Type.String(),
      intent: Type.String(),
      stack: Type.String(),
      capabilities: Type.Array(Type.String()),
      /** The created token registering it; absent: the operator, an instance token, open mode. */
      token_id: Type.Optional(Type.String()),
    }),
    /** The full row and its token (made here, returned only at registration; the row keeps its hash). */
    res: Type.Object({ ...Instance.properties, token: Type.String() }),
  },
  /** `op`: activate (→ active), heartbeat (stale → active), touch (last_seen only). */
  'instances.touch': {
    req: Type.Object({ id: Type.String(), op: Type.Union([Type.Literal('activate'), Type.Literal('heartbeat'), Type.Literal('touch')]) }),
    res: Instance,
  },
  /**
   * A new token for an instance: an idempotent retry of its registration gets a new
   * one, since the first one's plain text is never stored with the key (the old one stops working).
   */
  'instances.rekey': { req: Type.Object({ id: Type.String() }), res: Type.Object({ id: Type.String(), token: Type.String() }) },
  'instances.update': {
    req: Type.Object({ id: Type.String(), capabilities: Type.Optional(Type.Array(Type.String())), intent: Type.Optional(Type.String()) }),
    res: Instance,
  },
  /** Deletes the instance; its leases are released and its claimed tasks return to ready (`events`). */
  'instances.deregister': { req: Type.Object({ id: Type.String() }), res: Type.Object({ id: Type.String(), events: Events }) },
  /**
   * Active instances last seen before `cutoff` (storage text) become stale; returns them. In the
   * same transaction: one `agent.stale` event each, then their leases released and their claimed
   * tasks back to ready (`events`, in that order).
   */
  'instances.mark_stale': {
    req: Type.Object({ cutoff: Type.String() }),
    res: Type.Object({ stale: Type.Array(Instance), events: Events }),
  },

  /**
   * A lease for `holder` (an instance) on path globs, all or nothing: granted unless a
   * resource overlaps a live lease of another holder where either side is exclusive; then nothing
   * is taken and `conflict` names the first such resource and every lease in the way. Taking a
   * lease is a sign of life: the holder becomes active.
   */
  'leases.acquire': {
    req: Type.Object({
      holder: Type.String({ minLength: 1 }),
      /** The project its paths are in: only that project's leases are in the way ('' = none). */
      project: Type.String(),
      resources: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
      exclusive: Type.Boolean(),
      ttl_ms: Type.Integer({ minimum: 0 }),
      reason: Type.String(),
      /** An edit hook's auto-lease: its TTL is an idle lifetime that heartbeats do not renew. */
      auto: Type.Optional(Type.Boolean()),
    }),
    res: Type.Union([Type.Object({ lease: LeaseRow, events: Events }), Type.Object({ conflict: Type.Object({ resource: Type.String(), leases: Type.Array(LeaseRow) }) })]),
  },
  /** Pushes a lease's expiry to now + TTL (`ttl_ms` replaces it when given; 0 = no TTL any more); holder only. */
  'leases.renew': {
    req: Type.Object({ id: Type.String(), holder: Type.String({ minLength: 1 }), ttl_ms: Type.Optional(Type.Integer({ minimum: 0 })), fence: Type.Optional(Type.Integer()) }),
    res: Type.Object({ lease: LeaseRow }),
  },
  /** Releases a lease (holder only); `lease.released` with reason `released`. */
  'leases.release': {
    req: Type.Object({ id: Type.String(), holder: Type.String({ minLength: 1 }), fence: Type.Optional(Type.Integer()) }),
    res: Type.Object({ lease: LeaseRow, events: Events }),
  },
  /** Releases up to `limit` leases whose TTL ran out (`lease.released`, reason `expired`); `more` when the limit was hit. */
  'leases.expire': {
    req: Type.Object({ limit: Type.Integer({ minimum: 1 }) }),
    res: Type.Object({ released: Type.Integer(), more: Type.Boolean(), events: Events }),
  },

  /**
   * Moves every TTL lease's expiry by `by_ms`: the wall-clock time the server missed
   * (held up, or its clock stepped) does not count against a TTL its holders could not renew.
   */
  'leases.shift': {
    req: Type.Object({ by_ms: Type.Integer() }),
    res: Type.Object({ shifted: Type.Integer() }),
  },

  /** A new task: `ready`, or `blocked` until every task in `deps` (which must exist) is done. */
  'tasks.create': {
    req: TASK.Create,
    res: Type.Object({ task: TaskRow, events: Events }),
  },
  /**
   * Hands `holder` the best ready task of `project` whose capabilities it has (highest priority,
   * then oldest), or NOT_FOUND. One writer transaction: each task is claimed exactly once.
   */
  'tasks.claim': {
    req: Type.Object({ project: Type.String({ minLength: 1 }), holder: Type.String({ minLength: 1 }) }),
    /**
     * A task with `paths` is handed out only when they overlap no other agent's live lease nor
     * another claimed task's paths, with an exclusive lease on them taken in the same write
     * (`lease`, null for a task without paths); `checkpoint`: the last one an earlier claimer recorded.
     */
    res: Type.Object({ task: TaskRow, events: Events, lease: Type.Union([LeaseRow, Type.Null()]), checkpoint: Type.Union([CheckpointRow, Type.Null()]) }),
  },
  /** Records the claimer's progress; the newest `keep` of the task are kept. */
  'tasks.checkpoint': {
    req: Type.Object({
      id: Type.Integer(),
      holder: Type.String({ minLength: 1 }),
      fence: Type.Optional(Type.Integer()),
      done: Type.String(),
      next: Type.String(),
      data: Type.String({ minLength: 1 }),
      keep: Type.Integer({ minimum: 1 }),
    }),
    res: Type.Object({ checkpoint: CheckpointRow }),
  },
  /** Done; the tasks waiting on it whose deps are now all done become ready. */
  'tasks.complete': { req: TaskSettle, res: Type.Object({ task: TaskRow, events: Events }) },
  /** Back to ready (attempts left and `retry`), else failed for good. */
  'tasks.fail': { req: TaskSettle, res: Type.Object({ task: TaskRow, events: Events }) },
  /** Back to ready, unfinished. */
  'tasks.release': { req: TaskSettle, res: Type.Object({ task: TaskRow, events: Events }) },
  /** Retention: up to `chunk` tasks that ended (done, failed) before `before` deleted, oldest first, with their checkpoints and dependency rows. */
  'tasks.prune': {
    req: Type.Object({ before: Type.String(), chunk: Type.Integer({ minimum: 1 }) }),
    res: Type.Object({ deleted: Type.Integer(), more: Type.Boolean() }),
  },
} satisfies MethodTable;
