import type { TransactionSql } from 'postgres';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { Event, TaskRow, WriterMethods } from '../../../schemas/rpc/writer.js';
import { TASK_COLUMNS as COLS, decodeTask as decode, type TaskDbRow as Row } from '../../../schemas/db/coord.js';
import { storageNow } from '../../writer/db.js';
import { Fault } from '../../writer/fault.js';
import type { pgEventStore } from './events.js';
import { revive } from './leases.js';

type M = WriterMethods;
type Tx = TransactionSql;
type Settled = { task: TaskRow; events: Event[] };

/**
 * Task queues per project on PostgreSQL (workers/writer/stores/tasks.ts). Ids come from the
 * `tasks` counter row (as SQLite's AUTOINCREMENT: a rolled-back create gives its id back).
 * deps and capabilities are JSON text, read with jsonb_array_elements_text as SQLite's json_each.
 */
export function pgTaskStore(events: ReturnType<typeof pgEventStore>) {
  // An id no row can have (beyond int8, where PostgreSQL would refuse the parameter) finds nothing, as on SQLite.
  const get = async (tx: Tx, id: number): Promise<Row | undefined> =>
    Number.isSafeInteger(id) ? (await tx<Row[]>`SELECT ${tx.unsafe(COLS)} FROM tasks WHERE id = ${id}`)[0] : undefined;
  const statusOf = async (tx: Tx, id: number): Promise<string | undefined> =>
    Number.isSafeInteger(id) ? (await tx<{ status: string }[]>`SELECT status FROM tasks WHERE id = ${id}`)[0]?.status : undefined;

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
    const r = await get(tx, id);
    if (!r) throw new Fault('NOT_FOUND', `task not found: ${id}`);
    return r;
  }

  /** The task, checked to be claimed by `holder`. */
  async function claimedTask(tx: Tx, req: { id: number; holder: string }): Promise<Row> {
    const r = await mustGet(tx, req.id);
    if (r.status !== 'claimed') throw new Fault('ALREADY_EXISTS', `task ${r.id} is not claimed (status: ${r.status})`);
    if (r.claimed_by !== req.holder) throw new Fault('PERMISSION_DENIED', `task ${r.id} is claimed by ${r.claimed_by_name}`);
    return r;
  }

  /** Settles a claimed task: claimed_by is kept for done/failed (who did it), cleared when it goes back to ready. */
  async function settle(tx: Tx, id: number, status: string, reason: string, now: string): Promise<Row> {
    const [r] = await tx<Row[]>`UPDATE tasks SET status = ${status}, reason = ${reason}, updated_at = ${now},
               claimed_by = CASE WHEN ${status}::text = 'ready' THEN '' ELSE claimed_by END,
               claimed_by_name = CASE WHEN ${status}::text = 'ready' THEN '' ELSE claimed_by_name END
             WHERE id = ${id} RETURNING ${tx.unsafe(COLS)}`;
    return r!;
  }

  /** The claimed task `r` becomes `status`, announced as `task.<what>`; done unblocks its dependents. */
  async function settleTo(tx: Tx, r: Row, req: ReqOf<M, 'tasks.fail'>, status: string, what: string): Promise<Settled> {
    const now = storageNow();
    const after = await settle(tx, r.id, status, req.reason, now);
    await revive(tx, req.holder, now);
    if (status === 'done') {
      // Waiting tasks of this one whose deps are now all done.
      const ready = await tx<{ id: number }[]>`
        SELECT t.id FROM task_deps d JOIN tasks t ON t.id = d.task_id
        WHERE d.dep_id = ${r.id} AND t.status = 'blocked'
          AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(t.deps::jsonb) j(value) JOIN tasks x ON x.id = j.value::bigint WHERE x.status <> 'done')`;
      for (const { id } of ready) await tx`UPDATE tasks SET status = 'ready', updated_at = ${now} WHERE id = ${id}`;
    }
    return { task: decode(after), events: [await announce(tx, what, after)] };
  }

  return {
    async create(tx: Tx, req: ReqOf<M, 'tasks.create'>): Promise<ResOf<M, 'tasks.create'>> {
      const deps = [...new Set(req.deps)];
      let ready = true;
      for (const d of deps) {
        const s = await statusOf(tx, d);
        if (s === undefined) throw new Fault('INVALID_ARGUMENT', `unknown task in deps: ${d}`);
        if (s !== 'done') ready = false;
      }
      const [c] = await tx<{ id: number }[]>`UPDATE koor_counters SET value = value + 1 WHERE name = 'tasks' RETURNING value AS id`;
      const id = c!.id;
      const now = storageNow();
      await tx`INSERT INTO tasks (id, project, title, data, priority, deps, capabilities, status, max_attempts, created_at, updated_at)
               VALUES (${id}, ${req.project}, ${req.title}, ${req.data}, ${req.priority}, ${JSON.stringify(deps)}, ${JSON.stringify([...new Set(req.capabilities)])},
                       ${ready ? 'ready' : 'blocked'}, ${req.max_attempts}, ${now}, ${now})`;
      for (const d of deps) await tx`INSERT INTO task_deps (dep_id, task_id) VALUES (${d}, ${id}) ON CONFLICT DO NOTHING`;
      const row = await mustGet(tx, id);
      return { task: decode(row), events: [await announce(tx, 'created', row)] };
    },

    async claim(tx: Tx, req: ReqOf<M, 'tasks.claim'>): Promise<ResOf<M, 'tasks.claim'>> {
      const [who] = await tx<{ name: string; capabilities: string }[]>`SELECT name, capabilities FROM instances WHERE id = ${req.holder}`;
      if (!who) throw new Fault('INVALID_ARGUMENT', 'task claim requires an agent identity');
      // The claim order of the tasks_queue index; a task's capabilities must all be the claimer's.
      // (::text first: postgres.js would JSON-encode a string bound as jsonb.)
      const [r] = await tx<Row[]>`
        SELECT ${tx.unsafe(COLS)} FROM tasks
        WHERE project = ${req.project} AND status = 'ready'
          AND (capabilities = '[]' OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(tasks.capabilities::jsonb) c(value)
                                                  WHERE c.value NOT IN (SELECT jsonb_array_elements_text(${who.capabilities}::text::jsonb))))
        ORDER BY priority DESC, id LIMIT 1`;
      if (!r) throw new Fault('NOT_FOUND', `no task ready in ${req.project}`);
      const now = storageNow();
      const [row] = await tx<Row[]>`UPDATE tasks SET status = 'claimed', claimed_by = ${req.holder}, claimed_by_name = ${who.name}, attempts = attempts + 1, reason = '', updated_at = ${now}
               WHERE id = ${r.id} RETURNING ${tx.unsafe(COLS)}`;
      await revive(tx, req.holder, now);
      return { task: decode(row!), events: [await announce(tx, 'claimed', row!)] };
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
      for (const r of await tx<Row[]>`SELECT ${tx.unsafe(COLS)} FROM tasks WHERE claimed_by = ${holder} AND status = 'claimed' ORDER BY id`) {
        out.push(await announce(tx, 'released', await settle(tx, r.id, 'ready', why, now)));
      }
      return out;
    },
  };
}
