/**
 * One arm of the swarm bench: N real Claude Code sessions (the pinned client, offline
 * against one scripted fake Messages API each) in N clones of one origin, draining the backlog —
 * with Koor (a server or a 3-node cluster, each clone's hooks as `koor-cli init --claude-code`
 * writes them) or without (the baseline: tasks.json in the repository). One session is killed
 * with SIGKILL mid-task; one (the last) sits idle in stream-json mode and is woken by tasks
 * created later. Everything the figures need is gathered here: the agents' records, every
 * request each fake API received, and (Koor) a poller's view of the tasks, leases and agents.
 *
 * An arm may hold several teams: each its own origin (`<tmp>/<owner>/shop.git`, so its
 * project, from the origin remote, is `<owner>.shop`), its clones in folders all named `shop`, its
 * sessions and its backlog in its own project, all at once on one server — which an arm may be
 * given (`server`) rather than start, so that another arm runs on the same one after it.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { runClaude, type FakeApi } from '../clients/claude-code.js';
import { KoorText, RequestDigest } from './injected.js';
import { fetchPastIdleClose, sleep } from '../lib/async.js';
import { makeTempDir, trackChild } from '../lib/cleanup.js';
import { procCpu } from '../lib/cpu.js';
import { spawnKoor, type ServerProc } from '../lib/processes.js';
import { REPO_ROOT } from '../lib/suite.js';
import { createDatabase, postgresCpu, type Postgres } from '../lib/postgres.js';
import { BaselineAgent, KoorAgent, type StepRecord } from './agent.js';
import { wireFor, type SeatRun, type SwarmClient } from './wires.js';
import { LATE_PROJECT, MAIN_PROJECT, taskLine, tasksJson, toFileTask, type SwarmTask } from './backlog.js';
import { auditOrigin, gitEnv, harnessPush, makeClone, makeOrigin, type MarkerAudit } from './repo.js';

const CLI_JS = path.join(REPO_ROOT, 'dist', 'cli-cjs', 'main.js');
/** How often the poller reads tasks, leases and agents (the resolution of ready times, lease spans and stale releases). */
export const POLL_MS = 250;
/** Between session starts: N clients starting in the same instant only queue on the CPU. */
const START_STAGGER_MS = 150;
/** The tool calls any session may ask for (a bound; a sane run needs a fraction). */
const MAX_REQUESTS = 400;
/** How long the server's CPU is sampled with only the poller running, before the sessions start. */
const IDLE_PROBE_MS = 2000;

/** One team of an arm: a repository, its sessions, its backlog. */
export interface TeamSpec {
  /** Its label: `shop` (the single-team arms), `alpha`, `beta`, `gamma`. */
  name: string;
  /** The folder its origin is in (`<tmp>/<owner>/shop.git`): Koor's project for its clones is `<owner>.shop`. */
  owner: string;
  /** Its sessions' names (KOOR_AGENT_NAME), each with a clone at `<tmp>/<name>/shop`. */
  sessions: string[];
  /** Its backlog: tasks of MAIN_PROJECT (created in the team's project), and of LATE_PROJECT later for its idle session. */
  tasks: SwarmTask[];
  /** The single-team arm's roles: a tester (first), a victim killed mid-task (second), an idle session woken by later tasks (last). Without: all workers. */
  roles: boolean;
  /** Each session's client, by index (default: Claude Code for all; a mixed team is Koor's only). */
  clients?: SwarmClient[];
  /**
   * A team only there to load the box as a team does, on a server of its own (its tasks created
   * there, its clones' hooks and koor-cli pointed there): not polled, not counted, not waited for —
   * its sessions are killed once the arm's other teams are done.
   */
  load?: SharedServer;
}

/** Servers an arm runs on without starting or stopping them (another arm runs on them too). */
export interface SharedServer {
  nodes: ServerProc[];
  /** PostgreSQL's postmaster (the cluster), for its CPU. */
  postgresPid: number | null;
}

/** Other repositories on the server (earlier arms): what names them in a session's context. */
export interface Elsewhere {
  /** Their agents' names. */
  names: string[];
  /** Their projects. */
  projects: string[];
  /** Their tasks' key letters (their files are src/<topic>/<letter><nn>.ts). */
  prefixes: string[];
}

export interface ArmSpec {
  kind: 'koor' | 'baseline';
  /** Row label: `baseline`, `koor sqlite`, `koor sqlite, auto-lease 10s`, `koor 3 nodes pg`. */
  label: string;
  backend: 'sqlite' | 'cluster' | 'none';
  /** Extra koor-server flags (the auto-lease lifetime, when the server has the setting). */
  serverArgs: string[];
  /** The auto-lease lifetime this arm runs with, in ms (null: for as long as the agent lives). */
  autoLeaseMs: number | null;
  sessions: number;
  tasks: SwarmTask[];
  /** Koor features the server has. */
  features: { paths: boolean; checkpoints: boolean };
  /** The arm is stopped this long after its sessions start, whatever is left. */
  budgetMs: number;
  /** koor-server --liveness-timeout: how long after its last sign of life a killed agent's task goes back. */
  livenessTimeout: string;
  /** The tester's test suite, seconds: one Bash call longer than the liveness timeout (0: no tester). */
  testRunS: number;
  /** Baseline: an agent stops polling an unchanged tasks.json after this long. */
  giveUpMs: number;
  /** The fake model's think time: each answer is sent this long after its request arrived (a real model takes seconds). */
  thinkMs: number;
  pg: Postgres | null;
  log: (m: string) => void;
  /** The teams (default: one, `shop`, with the roles, `sessions` sessions and `tasks`). */
  teams?: TeamSpec[];
  /** Run on these servers (default: start them for the arm, by `backend`, and stop them after). */
  server?: SharedServer;
  /** Other repositories on the shared server, named nowhere in this arm's sessions' context if all is well. */
  elsewhere?: Elsewhere;
  /** Every session's HTTP hooks through a timing pass-through (default: the idle session's only). */
  timeHooks?: boolean;
}

export interface SessionResult {
  name: string;
  /** Its team's name. */
  team: string;
  role: 'worker' | 'victim' | 'idle' | 'tester' | 'load';
  client: SwarmClient;
  node: number;
  api: FakeApi;
  /** What the report reads of its model requests (their bodies are dropped once answered). */
  seen: RequestDigest;
  /** Koor's text in its requests, counted alike for every client. */
  koor: KoorText;
  run: SeatRun | null;
  requests: number;
  startedAt: number;
  endedAt: number;
}

export interface PolledLease {
  id: string;
  /** The project its paths are in. */
  project: string;
  holder_name: string;
  resources: string[];
  reason: string;
  first: number;
  last: number;
}

export interface PolledTask {
  id: number;
  key: string;
  project: string;
  /** Status changes as the poller saw them. */
  changes: Array<{ status: string; at: number; by: string }>;
}

/** One team of an arm, as it ran. */
export interface TeamResult {
  name: string;
  owner: string;
  /** Koor's project for its repository, as `koor-cli init` printed it (the baseline: MAIN_PROJECT). */
  project: string;
  /** Why (`from the origin remote …`). */
  why: string;
  sessions: string[];
  /** Its tasks' keys. */
  keys: string[];
  /** Its origin's markers. */
  audit: MarkerAudit;
}

/** An edit refusal from the server's audit (`lease.denied`), with the refused session's and the holder's projects. */
export interface AuditDenial {
  at: string;
  /** The refused agent. */
  actor: string;
  holder: string;
  path: string;
  lease: string;
  /** The project the audit entry names (the refused session's; null from a server that does not say). */
  project: string | null;
  /** The refused agent's project (its registration's workspace: a hook session's agent registers with its project). */
  actor_project: string | null;
  /** The holder's project (its registration), and the lease's (the poller's view; null when it never saw the lease). */
  holder_project: string | null;
  lease_project: string | null;
}

export interface ArmResult {
  spec: Omit<ArmSpec, 'tasks' | 'pg' | 'log' | 'teams' | 'server' | 'elsewhere'>;
  t0: number;
  /** When every task was done (Koor: the server says so; baseline: the last completion), or null. */
  drainedAt: number | null;
  endedAt: number;
  records: StepRecord[];
  sessions: SessionResult[];
  /** Late tasks: key and when the harness created them (before the POST / push). */
  late: Array<{ key: string; at: number }>;
  leases: PolledLease[];
  tasks: PolledTask[];
  /** Agents' names in the order the poller first saw them, with when. */
  joins: Array<{ name: string; at: number }>;
  /** Koor: each task's final state on the server. */
  final: Array<{ key: string; status: string; attempts: number; claimed_by_name: string }>;
  /** Every team's origin's markers together. */
  audit: MarkerAudit;
  teams: TeamResult[];
  /** Koor: the edit refusals the server audited for this arm's agents. */
  denials: AuditDenial[];
  /** Tasks whose completion the arm expected markers for (done once). */
  doneKeys: string[];
  /** CPU of the server(s) during the arm, minus what the poller alone costs (idleCpu). */
  serverCpuS: number | null;
  postgresCpuS: number | null;
  hookCalls: Record<string, number> | null;
  /** What the server(s) and PostgreSQL spent with only the poller running (cores), taken out of serverCpuS / postgresCpuS. */
  idleCpu: { server_cores: number; postgres_cores: number } | null;
  /** Every `koor-cli wait` that returned (the Stop hook's waiter: hook true). */
  waits: Array<{ at: number; code: number; agent: string; hook: boolean }>;
  /** The idle session's hook calls, timed at a pass-through (Koor arms). */
  idleHooks: HookCall[];
  /** Every hook call timed at a pass-through (the idle session's; every session's with timeHooks). */
  hooks: HookCall[];
  /** The box's 1-minute load average when the sessions started and when they had ended (other work on the box shows here). */
  loadavg: [number, number];
  warnings: string[];
}

/**
 * `koor-cli` and `koor-hook` first on the client's PATH: the built CLI and the built koor-hook
 * (whose resident helper leaves 2 minutes after the arm's last hook). A `koor-cli wait` (the Stop
 * hook's waiter, or an agent's Bash wait) also logs when it returned and how (`<epoch ms> <exit
 * code> <agent> <args>` in `log`), which splits a wake-up into Koor's part and the client's.
 */
function cliShim(bin: string, log: string): string {
  fs.mkdirSync(bin, { recursive: true });
  const run = `'${process.execPath}' '${CLI_JS}' "$@"`;
  fs.writeFileSync(path.join(bin, 'koor-cli'), `#!/bin/sh\nexport KOOR_HOOK_IDLE_S=120\nif [ "$1" = wait ]; then ${run}; c=$?; echo "$(date +%s%3N) $c $KOOR_AGENT_NAME $*" >> '${log}'; exit $c; fi\nexec ${run}\n`, { mode: 0o755 });
  if (!fs.existsSync(path.join(bin, 'koor-hook'))) fs.symlinkSync(path.join(path.dirname(CLI_JS), 'koor-hook'), path.join(bin, 'koor-hook'));
  return `${bin}:${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`;
}

/** One Claude Code hook call the idle session made: its event, when it reached Koor and when Koor's answer was back. */
export interface HookCall {
  event: string;
  /** The calling session's agent (its X-Koor-Agent-Name). */
  agent: string;
  in: number;
  out: number;
}

/**
 * A pass-through to `target` for the idle session's HTTP hooks (its .claude/settings.json points
 * there; its koor-cli does not): it notes when each hook call arrived and when the server's answer
 * was back, which splits a wake-up's client part at Koor's UserPromptSubmit hook.
 */
async function hookTimer(target: string): Promise<{ url: string; calls: HookCall[]; close(): Promise<void> }> {
  const calls: HookCall[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const body = Buffer.concat(chunks);
      let event = '';
      try {
        event = String((JSON.parse(body.toString('utf8')) as { hook_event_name?: unknown }).hook_event_name ?? '');
      } catch {
        // not JSON: passed on as it is
      }
      const headers = { ...req.headers, host: new URL(target).host };
      const up = http.request(`${target}${req.url ?? '/'}`, { method: req.method, headers }, (r) => {
        const out: Buffer[] = [];
        r.on('data', (c: Buffer) => out.push(c));
        r.on('end', () => {
          calls.push({ event, agent: String(req.headers['x-koor-agent-name'] ?? ''), in: at, out: Date.now() });
          res.writeHead(r.statusCode ?? 502, r.headers).end(Buffer.concat(out));
        });
      });
      up.on('error', (e) => res.writeHead(502).end(e.message));
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The waits the shim logged: when each returned, its exit code, the agent, whether it was the Stop hook's. */
function waitsOf(log: string): Array<{ at: number; code: number; agent: string; hook: boolean }> {
  if (!fs.existsSync(log)) return [];
  return fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [at, code, agent, ...args] = l.split(' ');
      return { at: Number(at), code: Number(code), agent: agent ?? '', hook: args.includes('--hook') };
    });
}

async function api<T>(base: string, method: string, p: string, body?: unknown): Promise<T> {
  // A write carries an Idempotency-Key, so it too is sent again when it went out on a connection the server had closed while idle (an arm after another on one server).
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json', 'idempotency-key': `swarm-${randomUUID()}` };
  const r = await fetchPastIdleClose(`${base}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** Every descendant of `pid` (from /proc: ppid links). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${n}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid)!.push(Number(n));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** SIGTERM to each descendant of `pid` running `koor-cli wait` (a session's Bash wait or its Stop hook's waiter). */
function stopWaiters(pid: number): number {
  let n = 0;
  for (const d of descendants(pid)) {
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('main.js')) && cmd.includes('wait')) {
        process.kill(d, 'SIGTERM');
        n++;
      }
    } catch {
      // gone
    }
  }
  return n;
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

/** The regexp of what names a repository other than `mine` in a session's context: agents' names, projects, task files and titles. */
export function watchFor(others: Elsewhere, minePrefix: string): RegExp | null {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const alts: string[] = [];
  if (others.names.length > 0) alts.push(`(?<![\\w.-])(?:${others.names.map(esc).join('|')})(?![\\w-])`);
  if (others.projects.length > 0) alts.push(`(?<![\\w.-])(?:${others.projects.map(esc).join('|')})(?![\\w-])`);
  // Files and titles of a backlog whose keys have another letter (one with the same letter has the same names: told apart by its agents and project only).
  const letters = [...new Set(others.prefixes)].filter((p) => p !== minePrefix);
  for (const l of letters) alts.push(`\\bsrc/[a-z]+/${esc(l.toLowerCase())}\\d{2}(?:\\.test)?\\.ts\\b`, `\\b${esc(l)}\\d{2} (?:add|ops)\\b`);
  return alts.length === 0 ? null : new RegExp(alts.join('|'), 'g');
}

/** A backlog's key letter(s): `T` of T01. */
export const prefixOf = (tasks: readonly SwarmTask[]): string => tasks[0]?.key.replace(/\d+$/, '') ?? 'T';

export async function runArm(spec: ArmSpec): Promise<ArmResult> {
  const { log } = spec;
  const warnings: string[] = [];
  const tmp = makeTempDir(`koor-swarm-${spec.kind}-`);
  const records: StepRecord[] = [];
  const record = (r: StepRecord) => records.push(r);
  const teams: TeamSpec[] = spec.teams ?? [{ name: MAIN_PROJECT, owner: 'acme', sessions: Array.from({ length: spec.sessions }, (_, i) => `swarm-${String(i + 1).padStart(2, '0')}`), tasks: spec.tasks, roles: true }];
  // What the arm counts and waits for: the teams on its server (a load team's tasks are on its own).
  const allTasks = teams.filter((t) => !t.load).flatMap((t) => t.tasks);
  // The later tasks and the idle session are the role-playing team's (the single-team arms').
  const rolesTeam = teams.find((t) => t.roles) ?? null;
  const mainTasks = rolesTeam ? rolesTeam.tasks.filter((t) => t.project === MAIN_PROJECT) : [];
  const lateTasks = rolesTeam ? rolesTeam.tasks.filter((t) => t.project === LATE_PROJECT) : [];
  const owned = spec.server === undefined;
  const nodes: ServerProc[] = [];
  const children: ChildProcess[] = [];
  const apis: FakeApi[] = [];
  /** The timing pass-throughs, one per server node timed. */
  const timers = new Map<string, Awaited<ReturnType<typeof hookTimer>>>();
  try {
    // The origins and the clones: every session's clone at <tmp>/<its name>/shop.
    const repos = teams.map((team) => {
      const main = team.tasks.filter((t) => t.project === MAIN_PROJECT);
      const initial: Record<string, string> = spec.kind === 'baseline' ? { 'tasks.json': tasksJson(main.map(toFileTask)) } : {};
      return { team, ...makeOrigin(tmp.dir, initial, team.owner) };
    });
    interface Seat {
      name: string;
      team: TeamSpec;
      root: string;
      role: SessionResult['role'];
      client: SwarmClient;
    }
    const seats: Seat[] = repos.flatMap(({ team, origin }) =>
      team.sessions.map((name, j) => {
        const n = team.sessions.length;
        // With four sessions or more, the first runs a test suite longer than the liveness timeout before its first push.
        const role: SessionResult['role'] = team.load ? 'load' : !team.roles ? 'worker' : j === n - 1 ? 'idle' : j === (n >= 3 ? 1 : 0) ? 'victim' : j === 0 && n >= 4 && spec.testRunS > 0 ? 'tester' : 'worker';
        return { name, team, root: makeClone(origin, tmp.dir, name), role, client: team.clients?.[j] ?? 'claude-code' };
      }),
    );
    const names = seats.map((x) => x.name);

    // Koor: the server (or three nodes on one PostgreSQL database), the backlog, the hooks.
    let postgresPid: number | null = null;
    if (spec.server) {
      nodes.push(...spec.server.nodes);
      postgresPid = spec.server.postgresPid;
    } else if (spec.backend !== 'none') {
      const started = await startServers(spec.backend, spec.pg, serverFlags(spec));
      nodes.push(...started.nodes);
      postgresPid = started.postgresPid;
    }
    const base = nodes[0]?.url ?? '';

    // Each clone's hooks, as `koor-cli init --claude-code` writes them, and the project it says the repository is (from its origin remote).
    const bin = path.join(tmp.dir, 'bin');
    const waitLog = path.join(tmp.dir, 'waits.log');
    const PATH = cliShim(bin, waitLog);
    const projectOf = new Map<string, { project: string; why: string }>();
    const homeOf = (name: string): string => {
      const home = path.join(tmp.dir, name, 'home');
      fs.mkdirSync(home, { recursive: true });
      return home;
    };
    for (const [i, seat] of seats.entries()) {
      // The client's user settings (Gemini's auth type), with Koor or without.
      wireFor(seat.client).prepareHome?.(homeOf(seat.name));
      if (spec.kind !== 'koor') continue;
      const node = seat.team.load?.nodes[0]!.url ?? nodes[i % nodes.length]!.url;
      // Another client's trust and user settings go into the session's own HOME.
      const wire = wireFor(seat.client);
      const home = homeOf(seat.name);
      const out = execFileSync(process.execPath, [CLI_JS, 'init', ...wire.init, '--server', node], { cwd: seat.root, stdio: 'pipe', timeout: 30_000, encoding: 'utf8', env: { ...process.env, KOOR_PROJECT: '', ...(seat.client === 'claude-code' ? {} : { HOME: home }), ...wire.initEnv?.() } });
      const said = /^project: (\S+) \((.*)\)$/m.exec(out);
      if (said === null) throw new Error(`koor-cli init in ${seat.root} printed no project:\n${out}`);
      const had = projectOf.get(seat.team.name);
      if (had === undefined) projectOf.set(seat.team.name, { project: said[1]!, why: said[2]! });
      else if (had.project !== said[1]) throw new Error(`two clones of ${seat.team.name}'s repository are two projects to koor-cli init: ${had.project}, ${said[1]}`);
      if (seat.role !== 'idle' && !(spec.timeHooks && seat.role !== 'load')) continue;
      // The idle session's HTTP hooks (or every one's) go through a timer (its koor-cli, the waiter included, does not).
      let timer = timers.get(node);
      if (timer === undefined) timers.set(node, (timer = await hookTimer(node)));
      const file = path.join(seat.root, '.claude', 'settings.json');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').split(`${node}/api/hooks/`).join(`${timer.url}/api/hooks/`));
    }
    const projectOfTeam = (team: TeamSpec): string => projectOf.get(team.name)?.project ?? MAIN_PROJECT;
    if (spec.kind === 'koor') {
      const ps = teams.map(projectOfTeam);
      if (new Set(ps).size !== ps.length) throw new Error(`the teams' repositories are not told apart: projects ${ps.join(', ')}`);
      const taken = new Set(spec.elsewhere?.projects ?? []);
      for (const p of ps) if (taken.has(p)) throw new Error(`project ${p} is another arm's on this server`);
    }
    const teamOfTask = new Map(teams.flatMap((team) => team.tasks.map((t) => [t.key, team] as const)));
    /** A task's project on the server: its repository's, or the one it names (the idle session's). */
    const serverProject = (t: SwarmTask): string => (t.project === MAIN_PROJECT ? projectOfTeam(teamOfTask.get(t.key)!) : t.project);
    const projects = new Set(allTasks.map(serverProject));

    const ids = new Map<string, number>();
    const createTask = async (t: SwarmTask): Promise<void> => {
      const on = teamOfTask.get(t.key)!.load?.nodes[0]!.url ?? base;
      const body: Record<string, unknown> = {
        project: serverProject(t),
        title: t.title,
        data: { key: t.key, files: t.files, shared: t.shared },
        deps: t.deps.map((d) => ids.get(d)!),
      };
      if (spec.features.paths && t.declaresPaths) body.paths = t.files;
      const r = await api<{ id: number }>(on, 'POST', '/api/tasks', body);
      ids.set(t.key, r.id);
    };
    if (spec.kind === 'koor') for (const team of teams) for (const t of team.tasks) if (t.project === MAIN_PROJECT) await createTask(t);

    // The poller: tasks, leases and agents as the server sees them, every POLL_MS (this arm's projects and agents only: the server may hold others').
    const leases = new Map<string, PolledLease>();
    const polled = new Map<number, PolledTask>();
    const joins: Array<{ name: string; at: number }> = [];
    const seenAgents = new Set<string>();
    const mine = new Set(names);
    let allDone = false;
    /** Nothing can move any more: every task done or failed, or none ready or claimed (what is left waits on a failed task). */
    let stuck = false;
    let polling = spec.kind === 'koor';
    const poller = (async () => {
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
            if (!projects.has(project) && !mine.has(l.holder_name)) continue;
            const p = leases.get(l.id);
            if (p) p.last = at;
            else leases.set(l.id, { id: l.id, project, holder_name: l.holder_name, resources: l.resources, reason: l.reason, first: at, last: at });
          }
          const ts = all.filter((t) => projects.has(t.project));
          for (const t of ts) {
            const key = t.data?.key ?? String(t.id);
            let p = polled.get(t.id);
            if (!p) polled.set(t.id, (p = { id: t.id, key, project: t.project, changes: [] }));
            const lastChange = p.changes.at(-1);
            if (lastChange?.status !== t.status || lastChange.by !== t.claimed_by_name) p.changes.push({ status: t.status, at, by: t.claimed_by_name });
          }
          for (const i of is) {
            if (seenAgents.has(i.name) || !mine.has(i.name)) continue;
            seenAgents.add(i.name);
            joins.push({ name: i.name, at });
          }
          allDone = ts.length === allTasks.length && ts.every((t) => t.status === 'done');
          stuck = ts.length === allTasks.length && ts.every((t) => t.status !== 'ready' && t.status !== 'claimed');
        } catch (e) {
          if (polling) warnings.push(`poller: ${(e as Error).message}`);
        }
        await sleep(Math.max(0, POLL_MS - (Date.now() - at)));
      }
    })();

    // What the server spends with the poller alone (and its own timers), to take out of the figures.
    const cpuOf = () => nodes.reduce((s, n) => {
      const c = procCpu(n.pid).total;
      return s + (c ? c.user + c.sys : 0);
    }, 0);
    let idleCpuPerS = 0;
    let idlePgPerS = 0;
    if (spec.kind === 'koor') {
      const [c, p, at] = [cpuOf(), postgresPid === null ? 0 : postgresCpu(postgresPid), Date.now()];
      await sleep(IDLE_PROBE_MS);
      const s = (Date.now() - at) / 1000;
      idleCpuPerS = (cpuOf() - c) / s;
      idlePgPerS = postgresPid === null ? 0 : (postgresCpu(postgresPid) - p) / s;
    }

    // What names another repository in a session's context: the other teams here, the repositories of other arms on this server.
    const watchOf = (team: TeamSpec): RegExp | null => {
      if (spec.kind !== 'koor' || team.load) return null;
      const others = teams.filter((t) => t !== team);
      const e = spec.elsewhere ?? { names: [], projects: [], prefixes: [] };
      return watchFor({ names: [...others.flatMap((t) => t.sessions), ...e.names], projects: [...others.map(projectOfTeam), ...e.projects], prefixes: [...others.map((t) => prefixOf(t.tasks)), ...e.prefixes] }, prefixOf(team.tasks));
    };

    // The sessions.
    const cpu0 = cpuOf();
    const pg0 = postgresPid === null ? 0 : postgresCpu(postgresPid);
    const t0 = Date.now();
    const load0 = os.loadavg()[0]!;
    const deadline = t0 + spec.budgetMs;
    let closeIdle: () => void = () => {};
    const idleClosed = new Promise<void>((r) => (closeIdle = r));
    const pids = new Map<string, number>();
    const results: SessionResult[] = [];
    const runs: Promise<void>[] = [];
    for (const [i, seat] of seats.entries()) {
      const { name, role } = seat;
      const idle = role === 'idle';
      const project = idle ? LATE_PROJECT : spec.kind === 'koor' ? projectOfTeam(seat.team) : MAIN_PROJECT;
      const cfg = {
        name,
        root: seat.root,
        project,
        idle,
        killAt: role === 'victim' ? ('after-edits' as const) : null,
        kill: () => {
          const pid = pids.get(name);
          if (pid !== undefined) process.kill(pid, 'SIGKILL');
        },
        maxRequests: MAX_REQUESTS,
        deadline,
        features: { checkpoints: spec.features.checkpoints },
        giveUpMs: spec.giveUpMs,
        waitS: 60,
        testRunS: role === 'tester' ? spec.testRunS : 0,
      };
      const agent = spec.kind === 'koor' ? new KoorAgent(cfg, record) : new BaselineAgent(cfg, record);
      const seen = new RequestDigest(watchOf(seat.team));
      const koor = new KoorText();
      const wire = wireFor(seat.client);
      const fake = await wire.start(async (view, req) => {
        // What the digest reads is the Messages API's: another client's requests are not read for it.
        if (seat.client === 'claude-code') seen.add(req);
        koor.add(wire.texts(req));
        if (spec.thinkMs > 0) await sleep(spec.thinkMs);
        const reply = await agent.reply(view);
        // The whole conversation so far: what the report reads of it was taken above.
        req.body = null;
        return reply;
      });
      apis.push(fake);
      const home = homeOf(name);
      const prompt = idle
        ? `You are on call for project ${project}: take its tasks as they come.`
        : spec.kind === 'koor'
          ? `Drain the backlog of project ${project}: claim a task with koor-cli, do it, push it, mark it done, until none is left.`
          : `Drain the backlog in tasks.json (team ${project}): take an open task, do it, push it, mark it done, until none is left.`;
      const env: Record<string, string> = { PATH, KOOR_AGENT_NAME: name, ...gitEnv(name), ...(idle && spec.kind === 'koor' ? { KOOR_PROJECT: LATE_PROJECT } : {}) };
      const r: SessionResult = { name, team: seat.team.name, role, client: seat.client, koor, node: nodes.length > 0 ? i % nodes.length : 0, api: fake, seen, run: null, requests: 0, startedAt: Date.now(), endedAt: 0 };
      results.push(r);
      record({ at: r.startedAt, session: name, kind: 'start', detail: role });
      const common = {
        cwd: seat.root,
        api: fake,
        home,
        env,
        settings: { permissions: { allow: ['Bash', 'Edit', 'Write', 'Read'] } },
        timeoutMs: spec.budgetMs + 60_000,
        onSpawn: (child: ChildProcess) => {
          trackChild(child);
          children.push(child);
          if (child.pid !== undefined) pids.set(name, child.pid);
        },
      };
      const run: Promise<SeatRun> = idle
        ? runClaude({ ...common, inputFormat: 'stream-json', outputFormat: 'stream-json', input: [{ type: 'user', message: { role: 'user', content: prompt } }], holdStdinMs: spec.budgetMs + 30_000, closeStdin: idleClosed })
        : wire.run({ ...common, prompt });
      runs.push(
        run.then(
          (res) => {
            r.run = res;
            r.requests = agent.requests;
            r.endedAt = Date.now();
          },
          (e: unknown) => {
            // A load session is killed at the end, at work.
            if (role !== 'load') warnings.push(`${name}: ${(e as Error).message}`);
            r.endedAt = Date.now();
          },
        ),
      );
      await sleep(START_STAGGER_MS);
    }
    const said = teams.map((team) => `${team.tasks.filter((t) => t.project === MAIN_PROJECT).length} tasks in ${spec.kind === 'koor' ? projectOfTeam(team) : MAIN_PROJECT}`).join(', ');
    log(`${spec.label}: ${seats.length} sessions spawned in ${Date.now() - t0} ms (${said}${lateTasks.length > 0 ? `, ${lateTasks.length} later in ${LATE_PROJECT}` : ''})`);

    // Tasks created later, for the idle session: the first once a third of the backlog is done,
    // each next one once the idle session finished the last (or 30 s later).
    const late: Array<{ key: string; at: number }> = [];
    const doneCount = () => records.filter((x) => x.kind === 'done').length;
    const idleName = seats.find((x) => x.role === 'idle')?.name ?? '';
    const harness = rolesTeam ? repos.find((x) => x.team === rolesTeam)!.harness : '';
    const workers = results.filter((r) => r.role !== 'idle' && r.role !== 'load');
    const workersEnded = () => workers.every((r) => r.endedAt > 0);
    let lateIndex = 0;
    let nextLateAt = Infinity;
    let lastProgress = Date.now();
    let lastDone = 0;
    while (Date.now() < deadline) {
      const n = doneCount();
      if (n !== lastDone) {
        lastDone = n;
        lastProgress = Date.now();
      }
      if (lateIndex < lateTasks.length) {
        let due: boolean;
        if (lateIndex === 0) due = n >= Math.ceil(mainTasks.length / 3) || workersEnded();
        else {
          const prev = late.at(-1)!;
          const prevDone = records.some((x) => x.kind === 'done' && x.session === idleName && x.task === prev.key);
          if (prevDone && nextLateAt === Infinity) nextLateAt = Date.now() + 1000;
          // The baseline's idle session never hears of a task: no point waiting for it.
          due = Date.now() >= Math.min(nextLateAt, prev.at + (spec.kind === 'koor' ? 30_000 : 2000));
        }
        if (due) {
          const t = lateTasks[lateIndex++]!;
          const at = Date.now();
          if (spec.kind === 'koor') await createTask(t);
          else await harnessPush(harness, 'tasks.json', (text) => text.replace(/\n\]\}\n$/, `,\n${taskLine(toFileTask(t))}\n]}\n`), `add ${t.key} for ${LATE_PROJECT}`);
          late.push({ key: t.key, at });
          nextLateAt = Infinity;
          log(`${spec.label}: created ${t.key} in ${LATE_PROJECT} (${n} tasks done so far)`);
        }
      }
      if (spec.kind === 'koor' && (allDone || (stuck && workersEnded()))) break;
      if (spec.kind === 'baseline' && workersEnded() && lateIndex >= lateTasks.length && Date.now() - lastProgress > 2000) break;
      // Koor, all done but sessions still waiting on the board: nothing more will come for them.
      await sleep(200);
    }
    const drainedAt = spec.kind === 'koor' ? (allDone ? Date.now() : null) : null;
    log(`${spec.label}: ${allDone ? 'every task done' : stuck ? 'nothing left that can be done' : Date.now() < deadline ? 'every session gave up' : 'stopped at the time limit'} after ${((Date.now() - t0) / 1000).toFixed(1)} s; ending the sessions`);

    // The end: the load stops; sessions blocked in `koor-cli wait` are let go (nothing will come), the idle one's stdin closed.
    for (const r of results) {
      const pid = r.role === 'load' && r.endedAt === 0 ? pids.get(r.name) : undefined;
      if (pid !== undefined) for (const p of [pid, ...descendants(pid)]) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
    const waitFor = async (what: () => boolean, ms: number) => {
      const until = Date.now() + ms;
      while (!what() && Date.now() < until) await sleep(100);
    };
    await waitFor(workersEnded, 3000);
    for (const r of workers) if (r.endedAt === 0 && pids.has(r.name)) stopWaiters(pids.get(r.name)!);
    await waitFor(workersEnded, 20_000);
    closeIdle();
    await sleep(300);
    const idlePid = pids.get(idleName);
    if (idlePid !== undefined) stopWaiters(idlePid);
    await waitFor(() => results.every((r) => r.endedAt > 0), 20_000);
    for (const r of results) {
      if (r.endedAt > 0) continue;
      warnings.push(`${spec.label}: ${r.name} did not end; killed`);
      const pid = pids.get(r.name);
      if (pid !== undefined) for (const p of [pid, ...descendants(pid)]) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
    await Promise.all(runs);
    const endedAt = Date.now();
    log(`${spec.label}: first model request of each session after ${results.map((r) => (r.api.requests[0] ? r.api.requests[0].at - r.startedAt : '-')).join(', ')} ms; all requests: ${results.map((r) => r.api.requests.length).join(', ')}`);
    polling = false;
    await poller;

    // What the server says.
    let final: ArmResult['final'] = [];
    let hookCalls: Record<string, number> | null = null;
    let serverCpuS: number | null = null;
    let postgresCpuS: number | null = null;
    let idleCpu: ArmResult['idleCpu'] = null;
    const denials: AuditDenial[] = [];
    if (spec.kind === 'koor') {
      const ts = await api<Array<{ id: number; project: string; status: string; attempts: number; claimed_by_name: string; data: { key?: string } | null }>>(base, 'GET', '/api/tasks?limit=10000');
      final = ts.filter((t) => projects.has(t.project)).map((t) => ({ key: t.data?.key ?? String(t.id), status: t.status, attempts: t.attempts, claimed_by_name: t.claimed_by_name }));
      hookCalls = {};
      for (const n of nodes) {
        const text = await (await fetchPastIdleClose(`${n.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
        for (const [k, v] of Object.entries(hookCallsOf(text))) hookCalls[k] = (hookCalls[k] ?? 0) + v;
      }
      const wall = (Date.now() - t0) / 1000;
      serverCpuS = cpuOf() - cpu0 - idleCpuPerS * wall;
      if (postgresPid !== null) postgresCpuS = postgresCpu(postgresPid) - pg0 - idlePgPerS * wall;
      idleCpu = { server_cores: Math.round(idleCpuPerS * 1000) / 1000, postgres_cores: Math.round(idlePgPerS * 1000) / 1000 };
      // The server's record of each refused edit (lease.denied, by the refused agent), with both agents' projects (what their hook sessions registered them with) and the lease's.
      try {
        const audit = (action: string) => api<Array<{ timestamp: string; actor: string; resource: string; detail: string }>>(base, 'GET', `/api/audit?action=${action}&limit=10000`);
        const [denied, registered] = await Promise.all([audit('lease.denied'), audit('instance.register')]);
        const projectOfAgent = new Map<string, string>();
        for (const e of registered) {
          const w = (JSON.parse(e.detail) as { workspace?: string }).workspace;
          if (typeof w === 'string') projectOfAgent.set(e.actor, w);
        }
        for (const e of denied) {
          if (!mine.has(e.actor)) continue;
          const d = JSON.parse(e.detail) as { path?: string; holder?: string; project?: string };
          const holder = d.holder ?? '';
          denials.push({ at: e.timestamp, actor: e.actor, holder, path: d.path ?? '', lease: e.resource, project: d.project ?? null, actor_project: projectOfAgent.get(e.actor) ?? null, holder_project: projectOfAgent.get(holder) ?? null, lease_project: leases.get(e.resource)?.project ?? null });
        }
      } catch (e) {
        warnings.push(`the server's audit of refused edits could not be read: ${(e as Error).message}`);
      }
    }
    const doneKeys =
      spec.kind === 'koor'
        ? final.filter((t) => t.status === 'done').map((t) => t.key)
        : [...new Set(records.filter((x) => x.kind === 'done' && x.task !== undefined).map((x) => x.task!))];
    const teamResults: TeamResult[] = repos.filter(({ team }) => !team.load).map(({ team, origin }) => {
      const keys = team.tasks.map((t) => t.key);
      const p = projectOf.get(team.name);
      return { name: team.name, owner: team.owner, project: p?.project ?? MAIN_PROJECT, why: p?.why ?? 'tasks.json', sessions: team.sessions, keys, audit: auditOrigin(origin, team.tasks, new Set(doneKeys.filter((k) => keys.includes(k)))) };
    });
    const audit: MarkerAudit = { exact: [], lost: [], doubled: [], stray: [], conflictMarkersIn: [], commits: 0 };
    for (const t of teamResults) {
      audit.exact.push(...t.audit.exact);
      audit.lost.push(...t.audit.lost);
      audit.doubled.push(...t.audit.doubled);
      audit.stray.push(...t.audit.stray);
      audit.conflictMarkersIn.push(...t.audit.conflictMarkersIn.map((f) => (teams.length > 1 ? `${t.name}:${f}` : f)));
      audit.commits += t.audit.commits;
    }
    const lastDoneAt = records.filter((x) => x.kind === 'done').reduce((m, x) => Math.max(m, x.at), 0);
    return {
      spec: { kind: spec.kind, label: spec.label, backend: spec.backend, serverArgs: spec.serverArgs, autoLeaseMs: spec.autoLeaseMs, sessions: seats.length, features: spec.features, budgetMs: spec.budgetMs, livenessTimeout: spec.livenessTimeout, testRunS: spec.testRunS, giveUpMs: spec.giveUpMs, thinkMs: spec.thinkMs },
      t0,
      drainedAt: drainedAt ?? (spec.kind === 'baseline' && doneKeys.length === allTasks.length ? lastDoneAt : null),
      endedAt,
      records: records.sort((a, b) => a.at - b.at),
      sessions: results,
      late,
      leases: [...leases.values()],
      tasks: [...polled.values()],
      joins,
      final,
      audit,
      teams: teamResults,
      denials,
      doneKeys,
      serverCpuS,
      postgresCpuS,
      hookCalls,
      idleCpu,
      waits: waitsOf(waitLog),
      idleHooks: [...timers.values()].flatMap((t) => t.calls).filter((c) => c.agent === idleName),
      hooks: [...timers.values()].flatMap((t) => t.calls).sort((x, y) => x.in - y.in),
      loadavg: [Math.round(load0 * 100) / 100, Math.round(os.loadavg()[0]! * 100) / 100],
      warnings,
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(apis.map((a) => a.close()));
    await Promise.all([...timers.values()].map((t) => t.close()));
    if (owned) await Promise.all(nodes.map((n) => n.stop(5000)));
    tmp.remove();
  }
}
