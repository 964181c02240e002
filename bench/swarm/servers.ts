/**
 * The swarm's Koor servers: starting them for an arm (one on SQLite, or three nodes on
 * PostgreSQL), its REST calls, and what the servers say once the arm is over (each task's final
 * state, the hook calls counted, the edits refused).
 */
import { randomUUID } from 'node:crypto';
import { fetchPastIdleClose } from '../lib/async.js';
import { createDatabase, type Postgres } from '../lib/postgres.js';
import { spawnKoor, type ServerProc } from '../lib/processes.js';
import type { ArmResult, ArmSpec, AuditDenial, PolledLease, SharedServer } from './arm-types.js';

/** A REST call to a server, its JSON reply (an error past a non-2xx status). */
export async function api<T>(base: string, method: string, p: string, body?: unknown): Promise<T> {
  // A write carries an Idempotency-Key, so it too is sent again when it went out on a connection the server had closed while idle (an arm after another on one server).
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json', 'idempotency-key': `swarm-${randomUUID()}` };
  const r = await fetchPastIdleClose(`${base}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** Prometheus text: the sum of every sample of `name` by its `event` label. */
function hookCallsOf(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^koor_hook_calls_total\{[^}]*event="([^"]+)"[^}]*\} ([\d.e+]+)/.exec(line);
    if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

/** The koor-server flags of an arm: a short liveness timeout (the killed agent's task comes back within the run), its own flags. */
export function serverFlags(spec: Pick<ArmSpec, 'livenessTimeout' | 'serverArgs'>): string[] {
  return ['--liveness-timeout', spec.livenessTimeout, '--liveness-interval', '1s', ...spec.serverArgs];
}

/** One koor-server on SQLite, or three nodes on one new PostgreSQL database (one after another: the first applies the migrations). */
export async function startServers(backend: 'sqlite' | 'cluster', pg: Postgres | null, flags: string[]): Promise<SharedServer> {
  const nodes: ServerProc[] = [];
  try {
    if (backend === 'sqlite') {
      nodes.push(await spawnKoor(flags));
      return { nodes, postgresPid: null };
    }
    if (!pg) throw new Error('cluster arm without PostgreSQL');
    const database = await createDatabase(pg, `koor_swarm_${Date.now() % 1e9}`);
    for (let i = 0; i < 3; i++) nodes.push(await spawnKoor(['--database', database, ...flags]));
    return { nodes, postgresPid: pg.pid };
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop(5000)));
    throw e;
  }
}


/** Each task of the arm's projects as the server ends with it. */
export async function finalTasks(base: string, projects: ReadonlySet<string>): Promise<ArmResult['final']> {
  const ts = await api<Array<{ id: number; project: string; status: string; attempts: number; claimed_by_name: string; data: { key?: string } | null }>>(base, 'GET', '/api/tasks?limit=10000');
  return ts.filter((t) => projects.has(t.project)).map((t) => ({ key: t.data?.key ?? String(t.id), status: t.status, attempts: t.attempts, claimed_by_name: t.claimed_by_name }));
}

/** The hook calls every node counted, by event. */
export async function hookCallsOn(nodes: readonly ServerProc[]): Promise<Record<string, number>> {
  const hookCalls: Record<string, number> = {};
  for (const n of nodes) {
    const text = await (await fetchPastIdleClose(`${n.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    for (const [k, v] of Object.entries(hookCallsOf(text))) hookCalls[k] = (hookCalls[k] ?? 0) + v;
  }
  return hookCalls;
}

/**
 * The server's record of each refused edit of `agents` (lease.denied, by the refused agent), with
 * both agents' projects (what their hook sessions registered them with) and the lease's (`leases`,
 * the poller's view).
 */
export async function deniedEdits(base: string, agents: ReadonlySet<string>, leases: ReadonlyMap<string, PolledLease>): Promise<AuditDenial[]> {
  const denials: AuditDenial[] = [];
  const audit = (action: string) => api<Array<{ timestamp: string; actor: string; resource: string; detail: string }>>(base, 'GET', `/api/audit?action=${action}&limit=10000`);
  const [denied, registered] = await Promise.all([audit('lease.denied'), audit('instance.register')]);
  const projectOfAgent = new Map<string, string>();
  for (const e of registered) {
    const w = (JSON.parse(e.detail) as { workspace?: string }).workspace;
    if (typeof w === 'string') projectOfAgent.set(e.actor, w);
  }
  for (const e of denied) {
    if (!agents.has(e.actor)) continue;
    const d = JSON.parse(e.detail) as { path?: string; holder?: string; project?: string };
    const holder = d.holder ?? '';
    denials.push({ at: e.timestamp, actor: e.actor, holder, path: d.path ?? '', lease: e.resource, project: d.project ?? null, actor_project: projectOfAgent.get(e.actor) ?? null, holder_project: projectOfAgent.get(holder) ?? null, lease_project: leases.get(e.resource)?.project ?? null });
  }
  return denials;
}
