/**
 * The projects the dashboard's pickers offer: names, never paths. An agent is in the
 * project of its workspace (`projectOf`: the workspace itself when it is a name, as an agent bound
 * by a hook session registers, else the folder an older agent's path ends in); a lease and a task
 * name theirs. The API has no list of projects: these are read from the roster, the live leases
 * and a page of tasks.
 */
import { COORD_LIST_MAX_LIMIT } from '../../src/shared/limits-features.js';
import { projectOf } from '../../src/shared/workspace.js';
import { getJson, query } from './api.js';

/** Tasks read for the project list (the newest page of every project's). */
const PROJECT_SCAN_TASKS = 1000;

/** The sorted, distinct, non-empty project names of agents (by workspace) and of anything naming its project. */
export function projectNames(agents: ReadonlyArray<{ workspace: string }>, ...named: ReadonlyArray<Iterable<string | null>>): string[] {
  const out = new Set<string>();
  for (const a of agents) out.add(projectOf(a.workspace));
  for (const list of named) for (const p of list) if (p !== null) out.add(p);
  out.delete('');
  return [...out].sort();
}

/** The projects of the live leases (every project's). */
export const leaseProjects = () => getJson<'GET /api/leases'>(`/api/leases${query({ limit: COORD_LIST_MAX_LIMIT })}`).then((ls) => ls.map((l) => l.project));

/** The projects that have tasks (a page of every project's tasks). */
export const taskProjects = () => getJson<'GET /api/tasks'>(`/api/tasks${query({ limit: PROJECT_SCAN_TASKS })}`).then((ts) => ts.map((t) => t.project));

/**
 * Every project the roster, the live leases and the tasks name, sorted. A source the server
 * refuses (a token without its scope) leaves its names out rather than the whole list.
 */
export async function knownProjects(): Promise<string[]> {
  const [agents, leases, tasks] = await Promise.allSettled([getJson<'GET /api/instances'>('/api/instances'), leaseProjects(), taskProjects()]);
  const ok = <T>(r: PromiseSettledResult<T>, none: T): T => (r.status === 'fulfilled' ? r.value : none);
  if (agents.status === 'rejected' && leases.status === 'rejected' && tasks.status === 'rejected') throw agents.reason;
  return projectNames(ok(agents, []), ok(leases, []), ok(tasks, []));
}
