import type { TaskRow } from '../rpc/writer.js';
import { TASKS, TASK_CHECKPOINTS } from './tables/tasks.js';

/** The task tables (schemas/db/tables/tasks.ts) as the writer and the front's readers use them: their columns and row codec. */

export const TASK_COLUMNS = Object.keys(TASKS.columns).join(', ');
/** A tasks row as SQLite returns it. */
export type TaskDbRow = Omit<TaskRow, 'deps' | 'capabilities' | 'paths'> & { deps: string; capabilities: string; paths: string };
export const decodeTask = (r: TaskDbRow): TaskRow => ({
  ...r,
  deps: JSON.parse(r.deps) as number[],
  capabilities: JSON.parse(r.capabilities) as string[],
  paths: JSON.parse(r.paths) as string[],
});
export const CHECKPOINT_COLUMNS = Object.keys(TASK_CHECKPOINTS.columns).join(', ');
