import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { CheckpointRow, Event, LeaseRow, TaskRow, WriterMethods } from '../../../schemas/rpc/writer.js';
import { CHECKPOINT, TASK, type TaskDbRow as Row } from '../../../schemas/db/tables/tasks.js';
import { GlobSet } from '../../../src/shared/glob-set.js';
import { TASK_CLAIM_BATCH, TASK_CLAIM_FIRST_BATCH, TASK_CLAIM_INDEX_BLOCKED, TASK_RESUME_CHARS } from '../../../src/shared/limits-features.js';
import { fault } from '../fault.js';
import { dialects, sql, type Tx } from '../sql.js';
import { dataNow, storageNow } from '../../../schemas/db/time.js';
import type { EventStore } from './events.js';
import { revive, type leaseStore } from './leases.js';
import { defined } from '../../../src/shared/defined.js';

type M = WriterMethods;
type Settled = { task: TaskRow; events: Event[] };

const GET = sql(`SELECT ${TASK.columns} FROM tasks WHERE id = ?`);
const STATUS = sql('SELECT status FROM tasks WHERE id = ?');
/**
 * A task's input fields (schemas/db/tables/tasks.ts), then its status and times. Ids: SQLite's
 * AUTOINCREMENT; PostgreSQL's `tasks` counter row (as AUTOINCREMENT, a rolled-back create gives
 * its id back).
 */
const INSERT_COLUMNS = [...TASK.inputs, 'status', 'created_at', 'updated_at'];
const INSERT = dialects({
  sqlite: `INSERT INTO tasks (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')})`,
  pg: `WITH c AS (UPDATE koor_counters SET value = value + 1 WHERE name = 'tasks' RETURNING value)
       INSERT INTO tasks (id, ${INSERT_COLUMNS.join(', ')})
       SELECT value, ${INSERT_COLUMNS.map((c) => (TASK.table.columns[c]!.type === 'int' ? 'CAST(? AS bigint)' : '?')).join(', ')} FROM c RETURNING id`,
});
const SET_FENCE = sql('UPDATE tasks SET fence = ? WHERE id = ?');
const INSERT_DEP = sql('INSERT INTO task_deps (dep_id, task_id) VALUES (?, ?) ON CONFLICT DO NOTHING');
const CLAIMER = sql('SELECT name, capabilities FROM instances WHERE id = ?');
/** A ready task of the project the claimer can do. Parameters: project, the claimer's capabilities. */
const READY_FOR = {
  sqlite: `project = ? AND status = 'ready'
           AND (capabilities = '[]' OR NOT EXISTS (SELECT 1 FROM json_each(tasks.capabilities) c WHERE c.value NOT IN (SELECT value FROM json_each(?))))`,
  pg: `project = ? AND status = 'ready'
       AND (capabilities = '[]' OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(tasks.capabilities::jsonb) c(value)
                                               WHERE c.value NOT IN (SELECT jsonb_array_elements_text(CAST(? AS text)::jsonb))))`,
};
/**
 * Not refused by a lease that still lives and is not the claimer's: a lease's end clears the
 * tasks it refused (leases.ts), and a claim first clears those refused by its claimer's leases or
 * by leases past their TTL not yet swept (UNBLOCK_FOR) — so the tasks_open index holds exactly the
 * tasks to consider, and a claim never walks past blocked ones.
 */
const NOT_PASSED = "blocked_by = ''";
/** Clears the tasks refused by `holder`'s leases or by leases past their TTL at `now`. Parameters: holder, now. */
const UNBLOCK_FOR = sql(
  "UPDATE tasks SET blocked_by = '' WHERE blocked_by <> '' AND blocked_by IN (SELECT id FROM leases WHERE holder = ? UNION ALL SELECT id FROM leases WHERE expires_ms > 0 AND expires_ms <= ?)",
);
/**
 * The claim order of the tasks_open index (best priority, then oldest), from a point in it; a
 * task's capabilities must all be the claimer's (deps and capabilities are JSON text: SQLite's
 * json_each, PostgreSQL's jsonb_array_elements_text); a task whose last claim another agent's lease
 * refused is passed by while that lease lives (NOT_PASSED). `from`: the rest of the conditions,
 * each an index range, so a page deep in the queue costs a seek, not a walk. Parameters: project,
 * the claimer's capabilities, those of `from`, the limit.
 */
const readyFrom = (from: string, order: string) =>
  dialects({
    sqlite: `SELECT ${TASK.columns} FROM tasks WHERE ${READY_FOR.sqlite} AND ${NOT_PASSED} ${from} ORDER BY ${order} LIMIT CAST(? AS bigint)`,
    pg: `SELECT ${TASK.columns} FROM tasks WHERE ${READY_FOR.pg} AND ${NOT_PASSED} ${from.replace(/\?/g, 'CAST(? AS bigint)')} ORDER BY ${order} LIMIT CAST(? AS bigint)`,
  });
const NEXT = readyFrom('', 'priority DESC, id');
/**
 * The ready tasks the claimer could do, passed by or not: how many, and the first in claim order
 * (a refusal names it). The count is its own subquery: `count(*) OVER ()` copied and sorted every
 * ready task (5.6–9.7 ms a refused claim with 4,000 of them, against 0.5). Parameters: project,
 * capabilities, project, capabilities.
 */
const READY_ANY = dialects({
  sqlite: `SELECT ${TASK.columns}, (SELECT count(*) FROM tasks WHERE ${READY_FOR.sqlite}) AS n FROM tasks WHERE ${READY_FOR.sqlite} ORDER BY priority DESC, id LIMIT 1`,
  pg: `SELECT ${TASK.columns}, (SELECT count(*) FROM tasks WHERE ${READY_FOR.pg}) AS n FROM tasks WHERE ${READY_FOR.pg} ORDER BY priority DESC, id LIMIT 1`,
});
/** Only to a lease that lives: one already ended would never clear it (a claimed task's paths refuse claims after its lease is let go). Parameters: lease, task, lease. */
const SET_BLOCKED_BY = sql('UPDATE tasks SET blocked_by = ? WHERE id = ? AND EXISTS (SELECT 1 FROM leases WHERE id = ?)');
/** After (priority, id) at the same priority; then below it. */
const NEXT_SAME = readyFrom('AND priority = ? AND id > ?', 'id');
const NEXT_BELOW = readyFrom('AND priority < ?', 'priority DESC, id');
const CLAIM = sql(
  `UPDATE tasks SET status = 'claimed', claimed_by = ?, claimed_by_name = ?, attempts = attempts + 1, reason = '', updated_at = ?, lease_id = ?, blocked_by = ''
   WHERE id = ? RETURNING ${TASK.columns}`,
);
/** Paths of the tasks other agents have claimed in a project (their leases guard them too; a lease let go early does not free them). */
const CLAIMED_PATHS = sql("SELECT id, paths, claimed_by_name, lease_id FROM tasks WHERE project = ? AND status = 'claimed' AND paths <> '[]' AND claimed_by <> ?");
const LAST_CHECKPOINT = sql(`SELECT ${CHECKPOINT.columns} FROM task_checkpoints WHERE task_id = ? ORDER BY seq DESC LIMIT 1`);
const INSERT_CHECKPOINT = sql(`INSERT INTO task_checkpoints (${CHECKPOINT.columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
const PRUNE_CHECKPOINTS = sql('DELETE FROM task_checkpoints WHERE task_id = ? AND seq <= ?');
/**
 * Settles a claimed task: claimed_by is kept for done/failed (who did it), cleared when it goes
 * back to ready. Parameters: status, reason, now, status, status, id.
 */
const SETTLE = sql(
  `UPDATE tasks SET status = ?, reason = ?, updated_at = ?, lease_id = '',
     claimed_by = CASE WHEN CAST(? AS text) = 'ready' THEN '' ELSE claimed_by END,
     claimed_by_name = CASE WHEN CAST(? AS text) = 'ready' THEN '' ELSE claimed_by_name END
   WHERE id = ? RETURNING ${TASK.columns}`,
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
/** Waiting tasks of one that failed for good: they could never run. */
const BLOCKED_ON = sql("SELECT t.id FROM task_deps d JOIN tasks t ON t.id = d.task_id WHERE d.dep_id = ? AND t.status = 'blocked'");
const FAIL_BLOCKED = sql(`UPDATE tasks SET status = 'failed', reason = ?, updated_at = ? WHERE id = ? AND status = 'blocked' RETURNING ${TASK.columns}`);
const CLAIMED_BY = sql(`SELECT ${TASK.columns} FROM tasks WHERE claimed_by = ? AND status = 'claimed' ORDER BY id`);
/**
 * Retention: tasks that ended before a time, oldest first (by id: no index by time; the ended
 * ones are mostly the oldest). Their checkpoints and dependency rows go with them: a dependent
 * of a task that is gone was unblocked (done) or is settled by hand.
 */
const PRUNABLE = sql("DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE status IN ('done', 'failed') AND updated_at < ? ORDER BY id LIMIT CAST(? AS bigint)) RETURNING id, deps");
const DROP_CHECKPOINTS = sql('DELETE FROM task_checkpoints WHERE task_id = ?');
const DROP_DEPENDENTS = sql('DELETE FROM task_deps WHERE dep_id = ?');
const DROP_DEP = sql('DELETE FROM task_deps WHERE dep_id = ? AND task_id = ?');

/** An id no row can have (beyond int8, where PostgreSQL would refuse the parameter) finds nothing. */
const findable = (id: number): boolean => Number.isSafeInteger(id);

/**
 * Task queues per project: create, claim (the best ready task whose capabilities the
 * claimer has, exactly once: the choice and the update are one writer transaction), complete,
 * fail, release; a claimer that goes stale or is deregistered gives its tasks back.
 */
export function taskStore(events: EventStore, leases: ReturnType<typeof leaseStore>) {
  /** Stores `task.<what>` for the task as it now is (without its data, which may be large). */
  function announce(tx: Tx, what: string, r: Row, more: { resume?: string; released_from?: string } = {}): Promise<Event> {
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
      // Only a task that declared paths carries them (and its claim's lease): other events stay as they were.
      ...(r.paths === '[]' ? {} : { paths: JSON.parse(r.paths) as string[], lease_id: r.lease_id }),
      // A claim of a task an earlier claimer checkpointed: what comes next, for the claimer's digest.
      ...defined({ resume: more.resume }),
      // A claim given back (by its holder, or by its holder going stale): whose it was, for that agent's digest.
      ...defined({ released_from: more.released_from }),
    });
    return events.publish(tx, { topic: `task.${what}`, data, source: 'tasks' });
  }

  async function mustGet(tx: Tx, id: number): Promise<Row> {
    const r = findable(id) ? await tx.get<Row>(GET, id) : undefined;
    if (!r) throw fault('TASK_NOT_FOUND', id);
    return r;
  }

  /** The task, checked to be claimed by `holder` (and, with a fencing token, by this very claim). */
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
    revive(tx, req.holder, now);
    if (status === 'done') for (const { id } of await tx.all<{ id: number }>(UNBLOCKABLE, r.id)) await tx.run(UNBLOCK, now, id);
    // The claim's lease on the task's paths ends with it.
    const freed = r.lease_id === '' ? null : await leases.endIfHeld(tx, r.lease_id, 'released');
    const event = await announce(tx, what, after, what === 'released' ? { released_from: r.claimed_by } : {});
    const events = freed ? [freed, event] : [event];
    if (status === 'failed') events.push(...(await failDependents(tx, r.id, now)));
    return { task: TASK.decode(after), events };
  }

  /**
   * A task failed for good: the tasks waiting on it, and those waiting on them, fail too (each a
   * `task.failed` event naming the dependency), rather than stay blocked for ever unseen.
   */
  async function failDependents(tx: Tx, id: number, now: string): Promise<Event[]> {
    const out: Event[] = [];
    const queue = [id];
    for (let i = 0; i < queue.length; i++) {
      const dep = queue[i]!;
      for (const { id: waiting } of await tx.all<{ id: number | string }>(BLOCKED_ON, dep)) {
        const row = await tx.get<Row>(FAIL_BLOCKED, `dependency #${dep} failed`, now, Number(waiting));
        if (!row) continue;
        out.push(await announce(tx, 'failed', row));
        queue.push(Number(row.id));
      }
    }
    return out;
  }

  /** What holds a path against a claim: whose it is, as a refusal names it, and the lease (a claimed task's own, '' when it has none). */
  type Holding = { label: string; lease: string };

  /** Whose a lease is, as a refusal names it: `ann`, or `ann (task #12)` for a claim's. */
  const leaseLabel = (l: Pick<LeaseRow, 'holder_name' | 'reason'>): string => {
    const task = /^task (\d+)$/.exec(l.reason);
    return task ? `${l.holder_name} (task #${task[1]})` : l.holder_name;
  };

  /**
   * What holds paths in `project` against `holder`'s claims: the paths of the tasks other agents
   * claimed and, with `withLeases`, their live leases, each labelled as a refusal names it
   * (`ann (task #12)`). Without them, each candidate's lease is refused by the lease index
   * (leaseFor's acquire) — a few seeks, where reading every live lease of a project cost a claim
   * 0.75 s with 10,000 of them (bench scale).
   */
  async function heldAgainst(tx: Tx, project: string, holder: string, withLeases: boolean): Promise<GlobSet<Holding>> {
    const held = new GlobSet<Holding>();
    for (const t of await tx.all<{ id: number | string; paths: string; claimed_by_name: string; lease_id: string }>(CLAIMED_PATHS, project, holder)) {
      for (const p of JSON.parse(t.paths) as string[]) held.add(p, { label: `${t.claimed_by_name} (task #${t.id})`, lease: t.lease_id });
    }
    if (!withLeases) return held;
    for (const l of await leases.liveOfOthers(tx, project, holder)) for (const p of l.resources) held.add(p, { label: leaseLabel(l), lease: l.id });
    return held;
  }

  /**
   * The exclusive lease a claim of `r` takes on its paths, or why it cannot (`<path> held by
   * <whom>`) when another agent's live lease or claimed task overlaps them; null for a task
   * without paths.
   */
  async function leaseFor(tx: Tx, r: Row, holder: string, held: () => Promise<GlobSet<Holding>>): Promise<{ lease: LeaseRow; events: Event[] } | { blocked: string; by: string } | null> {
    if (r.paths === '[]') return null;
    const paths = JSON.parse(r.paths) as string[];
    const taken = await held();
    for (const p of paths) {
      const hit = taken.overlapping(p);
      if (hit) return { blocked: `${p} held by ${hit.label.label}`, by: hit.label.lease };
    }
    const got = await leases.acquire(tx, { holder, project: r.project, resources: paths, exclusive: true, ttl_ms: 0, reason: `task ${r.id}` });
    if ('conflict' in got) {
      const l = got.conflict.leases[0];
      return { blocked: `${got.conflict.resource} held by ${l ? leaseLabel(l) : 'another agent'}`, by: l?.id ?? '' };
    }
    if (!('lease' in got)) throw new Error('leases.acquire answered `held` to a request that is not an auto-lease');
    return { lease: got.lease, events: [...got.events, ...(await leases.supersedeAuto(tx, holder, r.project, paths, got.lease.id))] };
  }

  /**
   * The ready tasks of `project` the claimer can do, in claim order, page by page: a first small
   * page (the best one is usually free), then larger ones from where the last ended.
   */
  async function* readyInOrder(tx: Tx, project: string, caps: string, holder: string, now: number): AsyncGenerator<Row> {
    await tx.run(UNBLOCK_FOR, holder, now);
    let page = await tx.all<Row>(NEXT, project, caps, TASK_CLAIM_FIRST_BATCH);
    yield* page;
    if (page.length < TASK_CLAIM_FIRST_BATCH) return;
    let last = page.at(-1)!;
    for (;;) {
      page = await tx.all<Row>(NEXT_SAME, project, caps, last.priority, last.id, TASK_CLAIM_BATCH);
      yield* page;
      if (page.length === TASK_CLAIM_BATCH) {
        last = page.at(-1)!;
        continue;
      }
      page = await tx.all<Row>(NEXT_BELOW, project, caps, last.priority, TASK_CLAIM_BATCH);
      yield* page;
      if (page.length < TASK_CLAIM_BATCH) return;
      last = page.at(-1)!;
    }
  }

  return {
    async prune(tx: Tx, req: ReqOf<M, 'tasks.prune'>): Promise<ResOf<M, 'tasks.prune'>> {
      const gone = await tx.all<{ id: number | string; deps: string }>(PRUNABLE, req.before, req.chunk);
      for (const g of gone) {
        const id = Number(g.id);
        await tx.run(DROP_CHECKPOINTS, id);
        await tx.run(DROP_DEPENDENTS, id);
        for (const d of JSON.parse(g.deps) as number[]) await tx.run(DROP_DEP, d, id);
      }
      return { deleted: gone.length, more: gone.length === req.chunk };
    },

    async create(tx: Tx, req: ReqOf<M, 'tasks.create'>): Promise<ResOf<M, 'tasks.create'>> {
      const deps = [...new Set(req.deps)];
      let ready = true;
      for (const d of deps) {
        const s = findable(d) ? (await tx.get<{ status: string }>(STATUS, d))?.status : undefined;
        if (s === undefined) throw fault('UNKNOWN_DEP', d);
        if (s === 'failed') throw fault('DEP_FAILED', d);
        if (s !== 'done') ready = false;
      }
      const now = storageNow();
      const status = ready ? 'ready' : 'blocked';
      const task = { ...req, deps, capabilities: [...new Set(req.capabilities)], paths: [...new Set(req.paths)] };
      const id = await tx.insert(INSERT, ...TASK.values(task), status, now, now);
      for (const d of deps) await tx.run(INSERT_DEP, d, id);
      const row = await mustGet(tx, id);
      return { task: TASK.decode(row), events: [await announce(tx, 'created', row)] };
    },

    async claim(tx: Tx, req: ReqOf<M, 'tasks.claim'>): Promise<ResOf<M, 'tasks.claim'>> {
      const who = await tx.get<{ name: string; capabilities: string }>(CLAIMER, req.holder);
      if (!who) throw fault('IDENTITY_REQUIRED', 'task claim');
      // The best ready task whose paths are free: in claim order, however many
      // are blocked before it; what other agents hold in the project is read once, when a
      // candidate has paths.
      // PostgreSQL: after TASK_CLAIM_INDEX_BLOCKED candidates refused by the index (a round trip
      // each), the project's live leases are read once and the rest skipped without a query.
      let held: Promise<GlobSet<Holding>> | null = null;
      let bulk = false;
      const heldNow = () => {
        const withLeases = tx.dialect === 'pg' && blocked >= TASK_CLAIM_INDEX_BLOCKED;
        if (withLeases && !bulk) {
          bulk = true;
          held = null;
        }
        return (held ??= heldAgainst(tx, req.project, req.holder, withLeases));
      };
      let r: Row | undefined;
      let taken: { lease: LeaseRow; events: Event[] } | null = null;
      let blocked = 0;
      let firstBlock = '';
      for await (const c of readyInOrder(tx, req.project, who.capabilities, req.holder, dataNow())) {
        const got = await leaseFor(tx, c, req.holder, heldNow);
        if (got !== null && 'blocked' in got) {
          if (blocked++ === 0) firstBlock = got.blocked;
          // Passed by in the query while that lease lives.
          if (got.by !== '' && got.by !== c.blocked_by) await tx.run(SET_BLOCKED_BY, got.by, c.id, got.by);
          continue;
        }
        r = c;
        taken = got;
        break;
      }
      if (!r) {
        // Those passed by in the query count too: the refusal names the first of all in claim order.
        const first = await tx.get<Row & { n: number | string }>(READY_ANY, req.project, who.capabilities, req.project, who.capabilities);
        if (!first) return { none: { ready: 0, blocker: '' } };
        const why = await leaseFor(tx, first, req.holder, heldNow);
        return { none: { ready: Number(first.n), blocker: why !== null && 'blocked' in why ? why.blocked : firstBlock } };
      }
      const now = storageNow();
      const claimed = (await tx.get<Row>(CLAIM, req.holder, who.name, now, taken?.lease.id ?? '', r.id))!;
      revive(tx, req.holder, now);
      const checkpoint = (await tx.get<CheckpointRow>(LAST_CHECKPOINT, r.id)) ?? null;
      const event = await announce(tx, 'claimed', claimed, checkpoint === null ? {} : { resume: checkpoint.next.slice(0, TASK_RESUME_CHARS) });
      // The claim's fencing token: its event id, which only grows; the task's lease carries it too.
      await tx.run(SET_FENCE, event.id, r.id);
      if (taken) await leases.setFence(tx, taken.lease.id, event.id);
      return {
        task: TASK.decode({ ...claimed, fence: event.id }),
        events: taken ? [...taken.events, event] : [event],
        lease: taken ? { ...taken.lease, fence: event.id } : null,
        checkpoint,
      };
    },

    /** The claimer's progress: numbered per task, the newest `keep` kept. */
    async checkpoint(tx: Tx, req: ReqOf<M, 'tasks.checkpoint'>): Promise<ResOf<M, 'tasks.checkpoint'>> {
      const r = await claimedTask(tx, req);
      const last = await tx.get<{ seq: number }>(LAST_CHECKPOINT, r.id);
      const cp: CheckpointRow = { task_id: r.id, seq: (last?.seq ?? 0) + 1, done: req.done, next: req.next, data: req.data, by_id: req.holder, by_name: r.claimed_by_name, at: storageNow() };
      await tx.run(INSERT_CHECKPOINT, cp.task_id, cp.seq, cp.done, cp.next, cp.data, cp.by_id, cp.by_name, cp.at);
      if (cp.seq > req.keep) await tx.run(PRUNE_CHECKPOINTS, r.id, cp.seq - req.keep);
      revive(tx, req.holder, cp.at);
      return { checkpoint: cp };
    },

    complete: async (tx: Tx, req: ReqOf<M, 'tasks.complete'>): Promise<Settled> => settleTo(tx, await claimedTask(tx, req), req, 'done', 'completed'),

    async fail(tx: Tx, req: ReqOf<M, 'tasks.fail'>): Promise<Settled> {
      const r = await claimedTask(tx, req);
      return settleTo(tx, r, req, req.retry && r.attempts < r.max_attempts ? 'ready' : 'failed', 'failed');
    },

    /** Back to ready, unless it has had its max_attempts claims: then it parks as failed, with its checkpoints. */
    async release(tx: Tx, req: ReqOf<M, 'tasks.release'>): Promise<Settled> {
      const r = await claimedTask(tx, req);
      return settleTo(tx, r, req, r.attempts < r.max_attempts ? 'ready' : 'failed', 'released');
    },

    /** Every task `holder` has claimed goes back to ready (it went stale or was deregistered). */
    async releaseHolder(tx: Tx, holder: string, why: string): Promise<Event[]> {
      const now = storageNow();
      const out: Event[] = [];
      for (const r of await tx.all<Row>(CLAIMED_BY, holder)) {
        const after = await settle(tx, r.id, r.attempts < r.max_attempts ? 'ready' : 'failed', why, now);
        out.push(await announce(tx, 'released', after, { released_from: holder }));
        if (after.status === 'failed') out.push(...(await failDependents(tx, r.id, now)));
      }
      return out;
    },
  };
}
