import { Type, type Static } from '../../typebox.js';
import { f, hidden, input, named, record, shown } from '../record.js';
import type { Table } from '../table.js';

export const TASK_STATUSES = ['ready', 'blocked', 'claimed', 'done', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/**
 * A task: a project's queue entry. Ids as AUTOINCREMENT hands them out (a rolled-back create gives
 * its id back). Its reply is every task route's, each element of GET /api/tasks; its `input`
 * fields are what POST /api/tasks takes (null or absent: the column's default).
 */
export const TASK = record(
  'tasks',
  {
    id: f.int({ id: 'counter' }),
    project: input(f.text()),
    title: input(f.text()),
    /** Any JSON, kept as sent. */
    data: input(f.raw()),
    priority: input(f.int({ default: 0 })),
    /** Tasks that must be done first (it is `blocked` until then). */
    deps: input(f.list(Type.Integer()), Type.Union([Type.Array(Type.Integer({ minimum: 1 })), Type.Null()])),
    /** What a claimer must have: every one of them. */
    capabilities: input(f.list(Type.String()), Type.Union([Type.Array(Type.String()), Type.Null()])),
    status: shown(f.text(), Type.Unsafe<TaskStatus>(Type.Union(TASK_STATUSES.map((s) => Type.Literal(s))))),
    claimed_by: f.text({ default: "''" }),
    claimed_by_name: f.text({ default: "''" }),
    attempts: f.int({ default: 0 }),
    /** Claims it gets before it fails for good (the route's default when not sent). */
    max_attempts: input(f.int(), Type.Integer({ minimum: 1, maximum: 1000 })),
    reason: f.text({ default: "''" }),
    created_at: f.time(),
    updated_at: f.time(),
    /** The fencing token of its current (or last) claim: the id of its `task.claimed` event; 0 before any. */
    fence: f.int({ default: 0 }),
    /** The repository-relative path globs it will touch ([] when it declared none): a claim takes an exclusive lease on them. */
    paths: input(f.list(Type.String()), Type.Union([Type.Array(Type.String()), Type.Null()])),
    /** The lease its current claim took on `paths` ('' = none): ended with the claim. */
    lease_id: hidden(f.text({ default: "''" })),
    /**
     * The lease that refused its last claim ('' = none): claims pass it by in the index while that
     * lease lives. Cleared when the lease ends, and by a claim of the lease's holder.
     */
    blocked_by: hidden(f.text({ default: "''" })),
  },
  {
    indexes: [
      // the claim order: best priority first, then oldest
      { name: 'tasks_queue', on: 'project, status, priority DESC, id' },
      { name: 'tasks_claimed', on: 'claimed_by', where: "status = 'claimed'" },
      // the claim order of the tasks no lease refused: a claim never walks past blocked ones
      { name: 'tasks_open', on: 'project, status, blocked_by, priority DESC, id' },
      // the tasks a lease refused, cleared when it ends
      { name: 'tasks_blocked_by', on: 'blocked_by', where: "blocked_by <> ''" },
    ],
  },
);
export const TASKS = TASK.table;
/** What the writer is given to create a task: its inputs, defaults applied. */
export type TaskCreate = Static<typeof TASK.Create>;
/** A tasks row as the database returns it (lists JSON text). */
export type TaskDbRow = Parameters<typeof TASK.decode>[0];

/**
 * What a task's claimers recorded of their progress: `done`, `next` and `data` (any JSON) per
 * checkpoint (its inputs: what the claimer sends, '' and null when it does not), numbered per task from 1; the newest TASK_CHECKPOINTS_KEEP of a task are kept. `by`
 * in a reply: the claimer that recorded it.
 */
export const CHECKPOINT = record(
  'task_checkpoints',
  {
    task_id: hidden(f.int()),
    seq: shown(f.int(), Type.Integer({ minimum: 1 })),
    done: input(f.text()),
    next: input(f.text()),
    data: input(f.raw()),
    by_id: named('by', f.text()),
    by_name: f.text(),
    at: f.time(),
  },
  { primaryKey: ['task_id', 'seq'], withoutRowid: true },
);
export const TASK_CHECKPOINTS = CHECKPOINT.table;
/** What the writer is given to record a checkpoint. */
export type CheckpointCreate = Static<typeof CHECKPOINT.Create>;

export const TASK_DEPS: Table = {
  name: 'task_deps',
  columns: { dep_id: { type: 'int' }, task_id: { type: 'int' } },
  primaryKey: ['dep_id', 'task_id'],
  withoutRowid: true,
};
