import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { Event, TaskRow, WriterMethods } from '../../../schemas/rpc/writer.js';
import { TASK_COLUMNS as COLS, decodeTask as decode, type TaskDbRow as Row } from '../../../schemas/db/coord.js';
import { fault } from '../fault.js';
import { dialects, sql, type Tx } from '../sql.js';
import { storageNow } from '../time.js';
import type { EventStore } from './events.js';
import { revive } from './leases.js';

type M = WriterMethods;
type Settled = { task: TaskRow; events: Event[] };

const GET = sql(`SELECT ${COLS} FROM tasks WHERE id = ?`);
const STATUS = sql('SELECT status FROM tasks WHERE id = ?');
/** Ids: SQLite's AUTOINCREMENT; PostgreSQL's `tasks` counter row (as AUTOINCREMENT, a rolled-back create gives its id back). */
const INSERT = dialects({
  sqlite: `INSERT INTO tasks (project, title, data, priority, deps, capabilities, status, max_attempts, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  pg: `WITH c AS (UPDATE koor_counters SET value = value + 1 WHERE name = 'tasks' RETURNING value)
       INSERT INTO tasks (id, project, title, data, priority, deps, capabilities, status, max_attempts, created_at, updated_at)
       SELECT value, ?, ?, ?, CAST(? AS bigint), ?, ?, ?, CAST(? AS bigint), ?, ? FROM c RETURNING id`,
});
const SET_FENCE = sql('UPDATE tasks SET fence = ? WHERE id = ?');
const INSERT_DEP = sql('INSERT INTO task_deps (dep_id, task_id) VALUES (?, ?) ON CONFLICT DO NOTHING');
const CLAIMER = sql('SELECT name, capabilities FROM instances WHERE id = ?');
/**
 * The claim order of the tasks_queue index; a task's capabilities must all be the claimer's
 * (deps and capabilities are JSON text: SQLite's json_each, PostgreSQL's jsonb_array_elements_text).
 * Parameters: project, the claimer's capabilities.
 */
const NEXT = dialects({
  sqlite: `SELECT ${COLS} FROM tasks
           WHERE project = ? AND status = 'ready'
             AND (capabilities = '[]' OR NOT EXISTS (SELECT 1 FROM json_each(tasks.capabilities) c WHERE c.value NOT IN (SELECT value FROM json_each(?))))
           ORDER BY priority DESC, id LIMIT 1`,
  pg: `SELECT ${COLS} FROM tasks
       WHERE project = ? AND status = 'ready'
         AND (capabilities = '[]' OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(tasks.capabilities::jsonb) c(value)
                                                 WHERE c.value NOT IN (SELECT jsonb_array_elements_text(CAST(? AS text)::jsonb))))
       ORDER BY priority DESC, id LIMIT 1`,
});
const CLAIM = sql(
  `UPDATE tasks SET status = 'claimed', claimed_by = ?, claimed_by_name = ?, attempts = attempts + 1, reason = '', updated_at = ?
   WHERE id = ? RETURNING ${COLS}`,
);
/**
 * Settles a claimed task: claimed_by is kept for done/failed (who did it), cleared when it goes
 * back to ready. Parameters: status, reason, now, status, status, id.
 */
const SETTLE = sql(
  `UPDATE tasks SET status = ?, reason = ?, updated_at = ?,
     claimed_by = CASE WHEN CAST(? AS text) = 'ready' THEN '' ELSE claimed_by END,
     claimed_by_name = CASE WHEN CAST(? AS text) = 'ready' THEN '' ELSE claimed_by_name END
   WHERE id = ? RETURNING ${COLS}`,
);
/** Waiting tasks of a finished one whose deps are now all done. */
const UNBLOCKABLE = dialects({
  sqlite: `SELECT t.id FROM task_deps d JOIN tasks t ON t.id = d.task_id
           WHERE d.dep_id = ? AND t.status = 'blocked'
             AND NOT EXISTS (SELECT 1 FROM json_each(t.deps) j JOIN tasks x ON x.id = j.value WHERE x.status <> 'done')`,
  pg: `SELECT t.id FROM task_deps d JOIN tasks t ON t.id = d.task_id
       WHERE d.dep_id = ? AND t.status = 'blocked'
         AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(t.deps::jsonb) j(value) JOIN tasks x ON x.id = j.value::bigint WHERE x.status <> 'done')`,
});
const UNBLOCK = sql("UPDATE tasks SET status = 'ready', updated_at = ? WHERE id = ?");
const CLAIMED_BY = sql(`SELECT ${COLS} FROM tasks WHERE claimed_by = ? AND status = 'claimed' ORDER BY id`);

/** An id no row can have (beyond int8, where PostgreSQL would refuse the parameter) finds nothing. */
const findable = (id: number): boolean => Number.isSafeInteger(id);

/**
 * Task queues per project (SPEC §8.8): create, claim (the best ready task whose capabilities the
 * claimer has, exactly once: the choice and the update are one writer transaction), complete,
 * fail, release; a claimer that goes stale or is deregistered gives its tasks back.
 */
export function taskStore(events: EventStore) {
  /** Stores `task.<what>` for the task as it now is (without its data, which may be large). */
  function announce(tx: Tx, what: string, r: Row): Promise<Event> {
    const data = JSON.stringify({
      id: r.id,
      project: r.project,
      title: r.title,
      priority: r.priority,
      status: r.status,
      claimed_by: r.claimed_by,
      claimed_by_name: r.claimed_by_name,
      attempts: r.attempts,
      reason: r.reason,
    });
    return events.publish(tx, { topic: `task.${what}`, data, source: 'tasks' });
  }

  async function mustGet(tx: Tx, id: number): Promise<Row> {
    const r = findable(id) ? await tx.get<Row>(GET, id) : undefined;
    if (!r) throw fault('TASK_NOT_FOUND', id);
    return r;
  }

  /** The task, checked to be claimed by `holder` (and, with a fencing token, by this very claim: issue 31). */
  async function claimedTask(tx: Tx, req: { id: number; holder: string; fence?: number }): Promise<Row> {
    const r = await mustGet(tx, req.id);
    if (req.fence !== undefined && (r.status !== 'claimed' || r.fence !== req.fence)) throw fault('FENCE_OUTDATED', `task ${r.id}`, req.fence, r.status === 'claimed' ? r.fence : 0);
    if (r.status !== 'claimed') throw fault('TASK_NOT_CLAIMED', r.id, r.status);
    if (r.claimed_by !== req.holder) throw fault('TASK_CLAIMED_BY_OTHER', r.id, r.claimed_by_name);
    return r;
  }

  const settle = async (tx: Tx, id: number, status: string, reason: string, now: string): Promise<Row> => (await tx.get<Row>(SETTLE, status, reason, now, status, status, id))!;

  /** The claimed task `r` becomes `status`, announced as `task.<what>`; done unblocks its dependents. */
  async function settleTo(tx: Tx, r: Row, req: ReqOf<M, 'tasks.fail'>, status: string, what: string): Promise<Settled> {
    const now = storageNow();
    const after = await settle(tx, r.id, status, req.reason, now);
    await revive(tx, req.holder, now);
    if (status === 'done') for (const { id } of await tx.all<{ id: number }>(UNBLOCKABLE, r.id)) await tx.run(UNBLOCK, now, id);
    return { task: decode(after), events: [await announce(tx, what, after)] };
  }

  return {
    async create(tx: Tx, req: ReqOf<M, 'tasks.create'>): Promise<ResOf<M, 'tasks.create'>> {
      const deps = [...new Set(req.deps)];
      let ready = true;
      for (const d of deps) {
        const s = findable(d) ? (await tx.get<{ status: string }>(STATUS, d))?.status : undefined;
        if (s === undefined) throw fault('UNKNOWN_DEP', d);
        if (s !== 'done') ready = false;
      }
      const now = storageNow();
      const status = ready ? 'ready' : 'blocked';
      const caps = JSON.stringify([...new Set(req.capabilities)]);
      const id = await tx.insert(INSERT, req.project, req.title, req.data, req.priority, JSON.stringify(deps), caps, status, req.max_attempts, now, now);
      for (const d of deps) await tx.run(INSERT_DEP, d, id);
      const row = await mustGet(tx, id);
      return { task: decode(row), events: [await announce(tx, 'created', row)] };
    },

    async claim(tx: Tx, req: ReqOf<M, 'tasks.claim'>): Promise<ResOf<M, 'tasks.claim'>> {
      const who = await tx.get<{ name: string; capabilities: string }>(CLAIMER, req.holder);
      if (!who) throw fault('IDENTITY_REQUIRED', 'task claim');
      const r = await tx.get<Row>(NEXT, req.project, who.capabilities);
      if (!r) throw fault('NO_TASK_READY', req.project);
      const now = storageNow();
      const claimed = (await tx.get<Row>(CLAIM, req.holder, who.name, now, r.id))!;
      await revive(tx, req.holder, now);
      const event = await announce(tx, 'claimed', claimed);
      // The claim's fencing token: its event id, which only grows (issue 31).
      await tx.run(SET_FENCE, event.id, r.id);
      return { task: decode({ ...claimed, fence: event.id }), events: [event] };
    },

    complete: async (tx: Tx, req: ReqOf<M, 'tasks.complete'>): Promise<Settled> => settleTo(tx, await claimedTask(tx, req), req, 'done', 'completed'),

    async fail(tx: Tx, req: ReqOf<M, 'tasks.fail'>): Promise<Settled> {
      const r = await claimedTask(tx, req);
      return settleTo(tx, r, req, req.retry && r.attempts < r.max_attempts ? 'ready' : 'failed', 'failed');
    },

    release: async (tx: Tx, req: ReqOf<M, 'tasks.release'>): Promise<Settled> => settleTo(tx, await claimedTask(tx, req), req, 'ready', 'released'),

    /** Every task `holder` has claimed goes back to ready (it went stale or was deregistered). */
    async releaseHolder(tx: Tx, holder: string, why: string): Promise<Event[]> {
      const now = storageNow();
      const out: Event[] = [];
      for (const r of await tx.all<Row>(CLAIMED_BY, holder)) out.push(await announce(tx, 'released', await settle(tx, r.id, 'ready', why, now)));
      return out;
    },
  };
}
