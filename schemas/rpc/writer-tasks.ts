import { Type } from '../typebox.js';
import type { MethodTable } from './envelope.js';
import { CheckpointRow, Events, LeaseRow, TaskRow } from './writer-rows.js';
import { CHECKPOINT, TASK } from '../db/tables/tasks.js';

/** The task queue's writer methods, part of WriterMethods (schemas/rpc/writer.ts). */

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

export const TaskMethods = {
  /** A new task: `ready`, or `blocked` until every task in `deps` (which must exist) is done. */
  'tasks.create': {
    req: TASK.Create,
    res: Type.Object({ task: TaskRow, events: Events }),
  },
  /**
   * Hands `holder` the best ready task of `project` whose capabilities it has (highest priority,
   * then oldest), or says there is none (`none`: how many ready tasks it could do, all blocked, and
   * why the first is — a result, not a fault, so what the claim learnt of them is kept). One
   * writer transaction: each task is claimed exactly once.
   */
  'tasks.claim': {
    req: Type.Object({ project: Type.String({ minLength: 1 }), holder: Type.String({ minLength: 1 }) }),
    /**
     * A task with `paths` is handed out only when they overlap no other agent's live lease nor
     * another claimed task's paths, with an exclusive lease on them taken in the same write
     * (`lease`, null for a task without paths); `checkpoint`: the last one an earlier claimer recorded.
     */
    res: Type.Union([
      Type.Object({ task: TaskRow, events: Events, lease: Type.Union([LeaseRow, Type.Null()]), checkpoint: Type.Union([CheckpointRow, Type.Null()]) }),
      Type.Object({ none: Type.Object({ ready: Type.Integer({ minimum: 0 }), blocker: Type.String() }) }),
    ]),
  },
  /** Records the claimer's progress; the newest `keep` of the task are kept. */
  'tasks.checkpoint': {
    req: Type.Object({
      id: Type.Integer(),
      holder: Type.String({ minLength: 1 }),
      fence: Type.Optional(Type.Integer()),
      ...CHECKPOINT.Create.properties,
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
