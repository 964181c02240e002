/**
 * The swarm's poller: the tasks, leases and agents of an arm as the server sees them, read every
 * POLL_MS while the arm runs (its projects and agents only: the server may hold others'). Its
 * view gives the report ready times, lease spans and stale releases, and the arm its end: every
 * task done, or nothing left that can move.
 */
import { sleep } from '../lib/async.js';
import { api } from './servers.js';
import type { PolledLease, PolledTask } from './arm-types.js';

/** How often the poller reads tasks, leases and agents (the resolution of ready times, lease spans and stale releases). */
export const POLL_MS = 250;



/** The poller of an arm: what it has seen so far, and whether the arm can end. */
export interface Poller {
  leases: Map<string, PolledLease>;
  tasks: Map<number, PolledTask>;
  /** Agents' names in the order the poller first saw them, with when. */
  joins: Array<{ name: string; at: number }>;
  /** Every task of the arm is done. */
  allDone: boolean;
  /** Nothing can move any more: every task done or failed, or none ready or claimed (what is left waits on a failed task). */
  stuck: boolean;
  /** Stops polling, once the read under way is over. */
  stop(): Promise<void>;
}

/**
 * Polls `base` for the tasks of `projects` (`expected` of them in all), their leases and the
 * agents named `agents`, until stopped; a failed read is a warning. Not `on`: polls nothing.
 */
export function startPoller(base: string, projects: ReadonlySet<string>, agents: ReadonlySet<string>, expected: number, warnings: string[], on: boolean): Poller {
  const seenAgents = new Set<string>();
  let polling = on;
  const p: Poller = { leases: new Map(), tasks: new Map(), joins: [], allDone: false, stuck: false, stop: async () => {} };
  const { leases, tasks: polled, joins } = p;
  const loop = (async () => {
    while (polling) {
      const at = Date.now();
      try {
        const [ls, all, is] = await Promise.all([
          api<Array<{ id: string; project?: string; holder_name: string; resources: string[]; reason: string }>>(base, 'GET', '/api/leases?limit=10000'),
          api<Array<{ id: number; project: string; status: string; claimed_by_name: string; data: { key?: string } | null }>>(base, 'GET', '/api/tasks?limit=10000'),
          api<Array<{ name: string }>>(base, 'GET', '/api/instances'),
        ]);
        for (const l of ls) {
          const project = l.project ?? '';
          if (!projects.has(project) && !agents.has(l.holder_name)) continue;
          const known = leases.get(l.id);
          if (known) known.last = at;
          else leases.set(l.id, { id: l.id, project, holder_name: l.holder_name, resources: l.resources, reason: l.reason, first: at, last: at });
        }
        const ts = all.filter((t) => projects.has(t.project));
        for (const t of ts) {
          const key = t.data?.key ?? String(t.id);
          let task = polled.get(t.id);
          if (!task) polled.set(t.id, (task = { id: t.id, key, project: t.project, changes: [] }));
          const lastChange = task.changes.at(-1);
          if (lastChange?.status !== t.status || lastChange.by !== t.claimed_by_name) task.changes.push({ status: t.status, at, by: t.claimed_by_name });
        }
        for (const i of is) {
          if (seenAgents.has(i.name) || !agents.has(i.name)) continue;
          seenAgents.add(i.name);
          joins.push({ name: i.name, at });
        }
        p.allDone = ts.length === expected && ts.every((t) => t.status === 'done');
        p.stuck = ts.length === expected && ts.every((t) => t.status !== 'ready' && t.status !== 'claimed');
      } catch (e) {
        if (polling) warnings.push(`poller: ${(e as Error).message}`);
      }
      await sleep(Math.max(0, POLL_MS - (Date.now() - at)));
    }
  })();
  p.stop = async () => {
    polling = false;
    await loop;
  };
  return p;
}
