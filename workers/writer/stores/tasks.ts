import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { Event, TaskRow, WriterMethods } from '../../../schemas/rpc/writer.js';
import { REVIVE_SQL, TASK_COLUMNS as COLS, decodeTask as decode, type TaskDbRow as Row } from '../../../schemas/db/coord.js';
import { storageNow, type DB } from '../db.js';
import { Fault } from '../fault.js';
import type { EventStore } from './events.js';

type M = WriterMethods;
type Settled = { task: TaskRow; events: Event[] };

/**
 * Task queues per project (SPEC §8.8): create, claim (the best ready task whose capabilities the
 * claimer has, exactly once: the choice and the update are one writer transaction), complete,
 * fail, release; a claimer that goes stale or is deregistered gives its tasks back.
 */
export function taskStore(db: DB, events: EventStore) {
  const get = db.prepare<[number], Row>(`SELECT ${COLS} FROM tasks WHERE id = ?`);
  const statusOf = db.prepare<[number], string>('SELECT status FROM tasks WHERE id = ?').pluck();
  const insert = db.prepare(
    `INSERT INTO tasks (project, title, data, priority, deps, capabilities, status, max_attempts, created_at, updated_at)
     VALUES (@project, @title, @data, @priority, @deps, @capabilities, @status, @max_attempts, @now, @now)`,
  );
  const insertDep = db.prepare<[number, number]>('INSERT OR IGNORE INTO task_deps (dep_id, task_id) VALUES (?, ?)');
  const claimer = db.prepare<[string], { name: string; capabilities: string }>('SELECT name, capabilities FROM instances WHERE id = ?');
  // The claim order of the tasks_queue index; a task's capabilities must all be the claimer's.
  const next = db.prepare<[{ project: string; caps: string }], Row>(
    `SELECT ${COLS} FROM tasks
     WHERE project = @project AND status = 'ready'
       AND (capabilities = '[]' OR NOT EXISTS (SELECT 1 FROM json_each(tasks.capabilities) c WHERE c.value NOT IN (SELECT value FROM json_each(@caps))))
     ORDER BY priority DESC, id LIMIT 1`,
  );
  const claim = db.prepare<{ id: number; holder: string; name: string; now: string }>(
    "UPDATE tasks SET status = 'claimed', claimed_by = @holder, claimed_by_name = @name, attempts = attempts + 1, reason = '', updated_at = @now WHERE id = @id",
  );
  /** Settles a claimed task: claimed_by is kept for done/failed (who did it), cleared when it goes back to ready. */
  const settle = db.prepare<{ id: number; status: string; reason: string; now: string }>(
    `UPDATE tasks SET status = @status, reason = @reason, updated_at = @now,
       claimed_by = CASE WHEN @status = 'ready' THEN '' ELSE claimed_by END,
       claimed_by_name = CASE WHEN @status = 'ready' THEN '' ELSE claimed_by_name END
     WHERE id = @id`,
  );
  // Waiting tasks of a finished one whose deps are now all done.
  const unblockable = db.prepare<[number], number>(
    `SELECT t.id FROM task_deps d JOIN tasks t ON t.id = d.task_id
     WHERE d.dep_id = ? AND t.status = 'blocked'
       AND NOT EXISTS (SELECT 1 FROM json_each(t.deps) j JOIN tasks x ON x.id = j.value WHERE x.status <> 'done')`,
  ).pluck();
  const unblock = db.prepare<[string, number]>("UPDATE tasks SET status = 'ready', updated_at = ? WHERE id = ?");
  const claimedBy = db.prepare<[string], Row>(`SELECT ${COLS} FROM tasks WHERE claimed_by = ? AND status = 'claimed' ORDER BY id`);
  const revive = db.prepare<{ now: string; id: string }>(REVIVE_SQL);

  /** Stores `task.<what>` for the task as it now is (without its data, which may be large). */
  function announce(what: string, r: Row): Event {
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
    return events.publish({ topic: `task.${what}`, data, source: 'tasks' });
  }

  function mustGet(id: number): Row {
    const r = get.get(id);
    if (!r) throw new Fault('NOT_FOUND', `task not found: ${id}`);
    return r;
  }

  /** The task, checked to be claimed by `holder`. */
  function claimedTask(req: { id: number; holder: string }): Row {
    const r = mustGet(req.id);
    if (r.status !== 'claimed') throw new Fault('ALREADY_EXISTS', `task ${r.id} is not claimed (status: ${r.status})`);
    if (r.claimed_by !== req.holder) throw new Fault('PERMISSION_DENIED', `task ${r.id} is claimed by ${r.claimed_by_name}`);
    return r;
  }

  /** The claimed task `r` becomes `status`, announced as `task.<what>`; done unblocks its dependents. */
  function settleTo(r: Row, req: ReqOf<M, 'tasks.fail'>, status: string, what: string): Settled {
    const now = storageNow();
    settle.run({ id: r.id, status, reason: req.reason, now });
    revive.run({ now, id: req.holder });
    if (status === 'done') for (const id of unblockable.all(r.id)) unblock.run(now, id);
    const after = mustGet(r.id);
    return { task: decode(after), events: [announce(what, after)] };
  }

  return {
    create(req: ReqOf<M, 'tasks.create'>): ResOf<M, 'tasks.create'> {
      const deps = [...new Set(req.deps)];
      let ready = true;
      for (const d of deps) {
        const s = statusOf.get(d);
        if (s === undefined) throw new Fault('INVALID_ARGUMENT', `unknown task in deps: ${d}`);
        if (s !== 'done') ready = false;
      }
      const r = insert.run({
        ...req,
        deps: JSON.stringify(deps),
        capabilities: JSON.stringify([...new Set(req.capabilities)]),
        status: ready ? 'ready' : 'blocked',
        now: storageNow(),
      });
      const id = Number(r.lastInsertRowid);
      for (const d of deps) insertDep.run(d, id);
      const row = mustGet(id);
      return { task: decode(row), events: [announce('created', row)] };
    },

    claim(req: ReqOf<M, 'tasks.claim'>): ResOf<M, 'tasks.claim'> {
      const who = claimer.get(req.holder);
      if (!who) throw new Fault('INVALID_ARGUMENT', 'task claim requires an agent identity');
      const r = next.get({ project: req.project, caps: who.capabilities });
      if (!r) throw new Fault('NOT_FOUND', `no task ready in ${req.project}`);
      const now = storageNow();
      claim.run({ id: r.id, holder: req.holder, name: who.name, now });
      revive.run({ now, id: req.holder });
      const row = mustGet(r.id);
      return { task: decode(row), events: [announce('claimed', row)] };
    },

    complete: (req: ReqOf<M, 'tasks.complete'>): Settled => settleTo(claimedTask(req), req, 'done', 'completed'),

    fail(req: ReqOf<M, 'tasks.fail'>): Settled {
      const r = claimedTask(req);
      return settleTo(r, req, req.retry && r.attempts < r.max_attempts ? 'ready' : 'failed', 'failed');
    },

    release: (req: ReqOf<M, 'tasks.release'>): Settled => settleTo(claimedTask(req), req, 'ready', 'released'),

    /** Every task `holder` has claimed goes back to ready (it went stale or was deregistered). */
    releaseHolder(holder: string, why: string): Event[] {
      const now = storageNow();
      return claimedBy.all(holder).map((r) => {
        settle.run({ id: r.id, status: 'ready', reason: why, now });
        return announce('released', mustGet(r.id));
      });
    },
  };
}
