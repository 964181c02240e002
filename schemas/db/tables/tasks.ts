import type { Table } from '../table.js';

/** Task queues per project; ids as AUTOINCREMENT hands them out (a rolled-back create gives its id back). */
export const TASKS: Table = {
  name: 'tasks',
  columns: {
    id: { type: 'int', id: 'counter' },
    project: { type: 'text' },
    title: { type: 'text' },
    data: { type: 'text', default: "'null'" },
    priority: { type: 'int', default: 0 },
    deps: { type: 'text', default: "'[]'" },
    capabilities: { type: 'text', default: "'[]'" },
    status: { type: 'text' },
    claimed_by: { type: 'text', default: "''" },
    claimed_by_name: { type: 'text', default: "''" },
    attempts: { type: 'int', default: 0 },
    max_attempts: { type: 'int' },
    reason: { type: 'text', default: "''" },
    created_at: { type: 'text' },
    updated_at: { type: 'text' },
    /** The fencing token of its current claim: the id of its `task.claimed` event. */
    fence: { type: 'int', default: 0 },
    /** The path globs it will touch, JSON text: a claim takes an exclusive lease on them. */
    paths: { type: 'text', default: "'[]'" },
    /** The lease its current claim took on `paths` ('' = none): ended with the claim. */
    lease_id: { type: 'text', default: "''" },
  },
  indexes: [
    // the claim order: best priority first, then oldest
    { name: 'tasks_queue', on: 'project, status, priority DESC, id' },
    { name: 'tasks_claimed', on: 'claimed_by', where: "status = 'claimed'" },
  ],
};

/**
 * What a task's claimers recorded of their progress: `done`, `next` and `data` (JSON
 * text) per checkpoint, numbered per task; the newest TASK_CHECKPOINTS_KEEP of a task are kept.
 */
export const TASK_CHECKPOINTS: Table = {
  name: 'task_checkpoints',
  columns: {
    task_id: { type: 'int' },
    seq: { type: 'int' },
    done: { type: 'text' },
    next: { type: 'text' },
    data: { type: 'text', default: "'null'" },
    by_id: { type: 'text' },
    by_name: { type: 'text' },
    at: { type: 'text' },
  },
  primaryKey: ['task_id', 'seq'],
  withoutRowid: true,
};

export const TASK_DEPS: Table = {
  name: 'task_deps',
  columns: { dep_id: { type: 'int' }, task_id: { type: 'int' } },
  primaryKey: ['dep_id', 'task_id'],
  withoutRowid: true,
};
