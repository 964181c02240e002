import { Type } from '../../typebox.js';
import { f, hidden, named, record, shown } from '../record.js';
import type { Table } from '../table.js';

export const TASK_STATUSES = ['ready', 'blocked', 'claimed', 'done', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/**
 * A task: a project's queue entry. Ids as AUTOINCREMENT hands them out (a rolled-back create gives
 * its id back). Its reply is every task route's, each element of GET /api/tasks.
 */
export const TASK = record(
  'tasks',
  {
    id: f.int({ id: 'counter' }),
    project: f.text(),
    title: f.text(),
    data: f.raw(),
    priority: f.int({ default: 0 }),
    deps: f.list(Type.Integer()),
    capabilities: f.list(Type.String()),
    status: shown(f.text(), Type.Unsafe<TaskStatus>(Type.Union(TASK_STATUSES.map((s) => Type.Literal(s))))),
    claimed_by: f.text({ default: "''" }),
    claimed_by_name: f.text({ default: "''" }),
    attempts: f.int({ default: 0 }),
    max_attempts: f.int(),
    reason: f.text({ default: "''" }),
    created_at: f.time(),
    updated_at: f.time(),
    /** The fencing token of its current (or last) claim: the id of its `task.claimed` event; 0 before any. */
    fence: f.int({ default: 0 }),
    /** The path globs it will touch ([] when it declared none): a claim takes an exclusive lease on them. */
    paths: f.list(Type.String()),
    /** The lease its current claim took on `paths` ('' = none): ended with the claim. */
    lease_id: hidden(f.text({ default: "''" })),
  },
  {
    indexes: [
      // the claim order: best priority first, then oldest
      { name: 'tasks_queue', on: 'project, status, priority DESC, id' },
      { name: 'tasks_claimed', on: 'claimed_by', where: "status = 'claimed'" },
    ],
  },
);
export const TASKS = TASK.table;
/** A tasks row as the database returns it (lists JSON text). */
export type TaskDbRow = Parameters<typeof TASK.decode>[0];

/**
 * What a task's claimers recorded of their progress: `done`, `next` and `data` (any JSON) per
 * checkpoint, numbered per task from 1; the newest TASK_CHECKPOINTS_KEEP of a task are kept. `by`
 * in a reply: the claimer that recorded it.
 */
export const CHECKPOINT = record(
  'task_checkpoints',
  {
    task_id: hidden(f.int()),
    seq: shown(f.int(), Type.Integer({ minimum: 1 })),
    done: f.text(),
    next: f.text(),
    data: f.raw(),
    by_id: named('by', f.text()),
    by_name: f.text(),
    at: f.time(),
  },
  { primaryKey: ['task_id', 'seq'], withoutRowid: true },
);
export const TASK_CHECKPOINTS = CHECKPOINT.table;

export const TASK_DEPS: Table = {
  name: 'task_deps',
  columns: { dep_id: { type: 'int' }, task_id: { type: 'int' } },
  primaryKey: ['dep_id', 'task_id'],
  withoutRowid: true,
};
