import type { Sql } from 'postgres';
import { TASK_COLUMNS as COLS, type TaskDbRow } from '../../../schemas/db/coord.js';
import type { Awaitable, ReadDb } from '../../store.js';

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
}

export function sqliteTaskReader(db: ReadDb): TaskReader {
  const get = db.prepare<[number], TaskDbRow>(`SELECT ${COLS} FROM tasks WHERE id = ?`);
  const list = db.prepare<[{ project: string | null; statuses: string | null; claimed_by: string | null; after: number; limit: number }], TaskDbRow>(
    `SELECT ${COLS} FROM tasks
     WHERE id > @after AND (@project IS NULL OR project = @project) AND (@claimed_by IS NULL OR claimed_by = @claimed_by)
       AND (@statuses IS NULL OR status IN (SELECT value FROM json_each(@statuses)))
     ORDER BY id LIMIT @limit`,
  );
  return {
    get: (id) => get.get(id),
    list: (f) => list.all({ project: f.project, statuses: f.statuses === null ? null : JSON.stringify(f.statuses), claimed_by: f.claimedBy, after: f.after, limit: f.limit }),
  };
}

export function pgTaskReader(sql: Sql): TaskReader {
  const cols = sql.unsafe(COLS);
  return {
    async get(id) {
      return (await sql<TaskDbRow[]>`SELECT ${cols} FROM tasks WHERE id = ${id}`)[0];
    },
    async list(f) {
      const statuses = f.statuses === null ? sql`true` : sql`status = ANY (${f.statuses}::text[])`;
      return [
        ...(await sql<TaskDbRow[]>`
          SELECT ${cols} FROM tasks
          WHERE id > ${f.after} AND (${f.project}::text IS NULL OR project = ${f.project}) AND (${f.claimedBy}::text IS NULL OR claimed_by = ${f.claimedBy})
            AND ${statuses}
          ORDER BY id LIMIT ${f.limit}`),
      ];
    },
  };
}
