import { CHECKPOINT, TASK, type TaskDbRow } from '../../../schemas/db/tables/tasks.js';
import type { CheckpointRow } from '../../../schemas/rpc/writer.js';
import type { Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { dialects, sql } from '../../../schemas/db/sql.js';

export interface TaskFilter {
  project: string | null;
  statuses: string[] | null;
  claimedBy: string | null;
  after: number;
  limit: number;
}

/** Read-only queries of the task queue; SQLite answers at once, PostgreSQL with a promise. */
export interface TaskReader {
  get(id: number): Awaitable<TaskDbRow | undefined>;
  /** By id, after `f.after`. */
  list(f: TaskFilter): Awaitable<TaskDbRow[]>;
  /** A task's checkpoints, oldest first. */
  checkpoints(id: number): Awaitable<CheckpointRow[]>;
}

const CHECKPOINTS = sql(`SELECT ${CHECKPOINT.columns} FROM task_checkpoints WHERE task_id = ? ORDER BY seq`);

const GET = sql(`SELECT ${TASK.columns} FROM tasks WHERE id = ?`);
/**
 * Parameters: after, project, project, claimed_by, claimed_by, statuses (a JSON array, or null),
 * statuses. The status list is JSON text: SQLite's json_each, PostgreSQL's jsonb_array_elements_text.
 */
const LIST = dialects({
  sqlite: `SELECT ${TASK.columns} FROM tasks
           WHERE id > ? AND (? IS NULL OR project = ?) AND (? IS NULL OR claimed_by = ?)
             AND (? IS NULL OR status IN (SELECT value FROM json_each(?)))
           ORDER BY id LIMIT CAST(? AS bigint)`,
  pg: `SELECT ${TASK.columns} FROM tasks
       WHERE id > ? AND (CAST(? AS text) IS NULL OR project = ?) AND (CAST(? AS text) IS NULL OR claimed_by = ?)
         AND (CAST(? AS text) IS NULL OR status IN (SELECT jsonb_array_elements_text(CAST(? AS text)::jsonb)))
       ORDER BY id LIMIT CAST(? AS bigint)`,
});

/** The task queues' reads, on either backend. */
export function taskReader(db: Reads): TaskReader {
  const get = db.statement<TaskDbRow>(GET);
  const list = db.statement<TaskDbRow>(LIST);
  const checkpoints = db.statement<CheckpointRow>(CHECKPOINTS);
  return {
    // An id no row can have (beyond int8, where PostgreSQL would refuse the parameter) finds nothing.
    get: (id) => (Number.isSafeInteger(id) ? get.get(id) : undefined),
    checkpoints: (id) => (Number.isSafeInteger(id) ? checkpoints.all(id) : []),
    list(f) {
      const statuses = f.statuses === null ? null : JSON.stringify(f.statuses);
      return list.all(f.after, f.project, f.project, f.claimedBy, f.claimedBy, statuses, statuses, f.limit);
    },
  };
}
