/**
 * One arm of the swarm bench (issue 44): N real Claude Code sessions (the pinned client, offline
 * against one scripted fake Messages API each) in N clones of one origin, draining the backlog —
 * with Koor (a server or a 3-node cluster, each clone's hooks as `koor-cli init --claude-code`
 * writes them) or without (the baseline: tasks.json in the repository). One session is killed
 * with SIGKILL mid-task; one (the last) sits idle in stream-json mode and is woken by tasks
 * created later. Everything the figures need is gathered here: the agents' records, every
 * request each fake API received, and (Koor) a poller's view of the tasks, leases and agents.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { runClaude, startFakeApi, type FakeApi, type RunResult } from '../claude-code.js';
import { RequestDigest } from './injected.js';
import { REPO_ROOT, makeTempDir, procCpu, sleep, spawnKoor, trackChild, type ServerProc } from '../lib.js';
import { createDatabase, postgresCpu, type Postgres } from '../postgres.js';
import { BaselineAgent, KoorAgent, type StepRecord } from './agent.js';
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
}

export interface SessionResult {
  name: string;
  role: 'worker' | 'victim' | 'idle' | 'tester';
  node: number;
  api: FakeApi;
  /** What the report reads of its model requests (their bodies are dropped once answered). */
  seen: RequestDigest;
  run: RunResult | null;
  requests: number;
  startedAt: number;
  endedAt: number;
}

export interface PolledLease {
  id: string;
  holder_name: string;
  resources: string[];
  reason: string;
  first: number;
  last: number;
}

export interface PolledTask {
  id: number;
  key: string;
  /** Status changes as the poller saw them. */
  changes: Array<{ status: string; at: number; by: string }>;
}

export interface ArmResult {
  spec: Omit<ArmSpec, 'tasks' | 'pg' | 'log'>;
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
  audit: MarkerAudit;
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
  warnings: string[];
}

/**
 * `koor-cli` first on the client's PATH: the built CLI. A `koor-cli wait` (the Stop hook's waiter,
 * or an agent's Bash wait) also logs when it returned and how (`<epoch ms> <exit code> <agent>
 * <args>` in `log`), which splits a wake-up into Koor's part and the client's.
 */
function cliShim(bin: string, log: string): string {
  fs.mkdirSync(bin, { recursive: true });
  const run = `'${process.execPath}' '${CLI_JS}' "$@"`;
  fs.writeFileSync(path.join(bin, 'koor-cli'), `#!/bin/sh\nif [ "$1" = wait ]; then ${run}; c=$?; echo "$(date +%s%3N) $c $KOOR_AGENT_NAME $*" >> '${log}'; exit $c; fi\nexec ${run}\n`, { mode: 0o755 });
  return `${bin}:${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`;
}

/** One Claude Code hook call the idle session made: its event, when it reached Koor and when Koor's answer was back. */
export interface HookCall {
  event: string;
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
          calls.push({ event, in: at, out: Date.now() });
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
  const r = await fetch(`${base}${p}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
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

export async function runArm(spec: ArmSpec): Promise<ArmResult> {
  const { log } = spec;
  const warnings: string[] = [];
  const tmp = makeTempDir(`koor-swarm-${spec.kind}-`);
  const records: StepRecord[] = [];
  const record = (r: StepRecord) => records.push(r);
  const mainTasks = spec.tasks.filter((t) => t.project === MAIN_PROJECT);
  const lateTasks = spec.tasks.filter((t) => t.project === LATE_PROJECT);
  const nodes: ServerProc[] = [];
  const children: ChildProcess[] = [];
  const apis: FakeApi[] = [];
  let timer: Awaited<ReturnType<typeof hookTimer>> | null = null;
  try {
    // The origin and the clones.
    const initial: Record<string, string> = spec.kind === 'baseline' ? { 'tasks.json': tasksJson(mainTasks.map(toFileTask)) } : {};
    const { origin, harness } = makeOrigin(tmp.dir, initial);
    const names = Array.from({ length: spec.sessions }, (_, i) => `swarm-${String(i + 1).padStart(2, '0')}`);
    const idleIndex = spec.sessions - 1;
    const victimIndex = spec.sessions >= 3 ? 1 : 0;
    // With four sessions or more, the first runs a test suite longer than the liveness timeout before its first push.
    const testerIndex = spec.sessions >= 4 && spec.testRunS > 0 ? 0 : -1;
    const roots = names.map((n) => makeClone(origin, tmp.dir, n));

    // Koor: the server (or three nodes on one PostgreSQL database), the backlog, the hooks.
    let postgresPid: number | null = null;
    const serverFlags = ['--liveness-timeout', spec.livenessTimeout, '--liveness-interval', '1s', ...spec.serverArgs];
    if (spec.backend === 'sqlite') nodes.push(await spawnKoor(serverFlags));
    else if (spec.backend === 'cluster') {
      if (!spec.pg) throw new Error('cluster arm without PostgreSQL');
      const database = await createDatabase(spec.pg, `koor_swarm_${Date.now() % 1e9}`);
      postgresPid = spec.pg.pid;
      // One after another: the first applies the migrations.
      for (let i = 0; i < 3; i++) nodes.push(await spawnKoor(['--database', database, ...serverFlags]));
    }
    const base = nodes[0]?.url ?? '';
    const ids = new Map<string, number>();
    const createTask = async (t: SwarmTask): Promise<void> => {
      const body: Record<string, unknown> = {
        project: t.project,
        title: t.title,
        data: { key: t.key, files: t.files, shared: t.shared },
        deps: t.deps.map((d) => ids.get(d)!),
      };
      if (spec.features.paths && t.declaresPaths) body.paths = t.files;
      const r = await api<{ id: number }>(base, 'POST', '/api/tasks', body);
      ids.set(t.key, r.id);
    };
    if (spec.kind === 'koor') for (const t of mainTasks) await createTask(t);

    const bin = path.join(tmp.dir, 'bin');
    const waitLog = path.join(tmp.dir, 'waits.log');
    const PATH = cliShim(bin, waitLog);
    for (const [i, root] of roots.entries()) {
      if (spec.kind !== 'koor') continue;
      const node = nodes[i % nodes.length]!.url;
      execFileSync(process.execPath, [CLI_JS, 'init', '--claude-code', '--server', node], { cwd: root, stdio: 'pipe', timeout: 30_000 });
      if (i !== spec.sessions - 1) continue;
      // The idle session's HTTP hooks go through the timer (its koor-cli, the waiter included, does not).
      timer = await hookTimer(node);
      const file = path.join(root, '.claude', 'settings.json');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').split(`${node}/api/hooks/`).join(`${timer.url}/api/hooks/`));
    }

    // The poller: tasks, leases and agents as the server sees them, every POLL_MS.
    const leases = new Map<string, PolledLease>();
    const polled = new Map<number, PolledTask>();
    const joins: Array<{ name: string; at: number }> = [];
    const seenAgents = new Set<string>();
    let allDone = false;
    /** Nothing can move any more: every task done or failed, or none ready or claimed (what is left waits on a failed task). */
    let stuck = false;
    let polling = spec.kind === 'koor';
    const keyOf = new Map<number, string>();
    const poller = (async () => {
      while (polling) {
        const at = Date.now();
        try {
          const [ls, ts, is] = await Promise.all([
            api<Array<{ id: string; holder_name: string; resources: string[]; reason: string }>>(base, 'GET', '/api/leases?limit=10000'),
            api<Array<{ id: number; status: string; claimed_by_name: string; data: { key?: string } | null }>>(base, 'GET', '/api/tasks?limit=10000'),
            api<Array<{ name: string }>>(base, 'GET', '/api/instances'),
          ]);
          for (const l of ls) {
            const p = leases.get(l.id);
            if (p) p.last = at;
            else leases.set(l.id, { id: l.id, holder_name: l.holder_name, resources: l.resources, reason: l.reason, first: at, last: at });
          }
          for (const t of ts) {
            const key = t.data?.key ?? String(t.id);
            keyOf.set(t.id, key);
            let p = polled.get(t.id);
            if (!p) polled.set(t.id, (p = { id: t.id, key, changes: [] }));
            const lastChange = p.changes.at(-1);
            if (lastChange?.status !== t.status || lastChange.by !== t.claimed_by_name) p.changes.push({ status: t.status, at, by: t.claimed_by_name });
          }
          for (const i of is) {
            if (seenAgents.has(i.name)) continue;
            seenAgents.add(i.name);
            joins.push({ name: i.name, at });
          }
          allDone = ts.length === spec.tasks.length && ts.every((t) => t.status === 'done');
          stuck = ts.length === spec.tasks.length && ts.every((t) => t.status !== 'ready' && t.status !== 'claimed');
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

    // The sessions.
    const cpu0 = cpuOf();
    const pg0 = postgresPid === null ? 0 : postgresCpu(postgresPid);
    const t0 = Date.now();
    const deadline = t0 + spec.budgetMs;
    let closeIdle: () => void = () => {};
    const idleClosed = new Promise<void>((r) => (closeIdle = r));
    const pids = new Map<string, number>();
    const results: SessionResult[] = [];
    const runs: Promise<void>[] = [];
    for (let i = 0; i < spec.sessions; i++) {
      const name = names[i]!;
      const idle = i === idleIndex;
      const role: SessionResult['role'] = idle ? 'idle' : i === victimIndex ? 'victim' : i === testerIndex ? 'tester' : 'worker';
      const project = idle ? LATE_PROJECT : MAIN_PROJECT;
      const cfg = {
        name,
        root: roots[i]!,
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
      const seen = new RequestDigest();
      const fake = await startFakeApi(async (req) => {
        seen.add(req);
        if (spec.thinkMs > 0) await sleep(spec.thinkMs);
        const reply = await agent.reply(req);
        // The whole conversation so far: what the report reads of it was taken above.
        req.body = null;
        return reply;
      });
      apis.push(fake);
      const home = path.join(tmp.dir, name, 'home');
      fs.mkdirSync(home, { recursive: true });
      const prompt = idle
        ? `You are on call for project ${project}: take its tasks as they come.`
        : spec.kind === 'koor'
          ? `Drain the backlog of project ${project}: claim a task with koor-cli, do it, push it, mark it done, until none is left.`
          : `Drain the backlog in tasks.json (team ${project}): take an open task, do it, push it, mark it done, until none is left.`;
      const env: Record<string, string> = { PATH, KOOR_AGENT_NAME: name, ...gitEnv(name), ...(idle && spec.kind === 'koor' ? { KOOR_PROJECT: LATE_PROJECT } : {}) };
      const r: SessionResult = { name, role, node: nodes.length > 0 ? i % nodes.length : 0, api: fake, seen, run: null, requests: 0, startedAt: Date.now(), endedAt: 0 };
      results.push(r);
      record({ at: r.startedAt, session: name, kind: 'start', detail: role });
      const common = {
        cwd: roots[i]!,
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
      const run = idle
        ? runClaude({ ...common, inputFormat: 'stream-json', outputFormat: 'stream-json', input: [{ type: 'user', message: { role: 'user', content: prompt } }], holdStdinMs: spec.budgetMs + 30_000, closeStdin: idleClosed })
        : runClaude({ ...common, prompt });
      runs.push(
        run.then(
          (res) => {
            r.run = res;
            r.requests = agent.requests;
            r.endedAt = Date.now();
          },
          (e: unknown) => {
            warnings.push(`${name}: ${(e as Error).message}`);
            r.endedAt = Date.now();
          },
        ),
      );
      await sleep(START_STAGGER_MS);
    }
    log(`${spec.label}: ${spec.sessions} sessions spawned in ${Date.now() - t0} ms (${mainTasks.length} tasks in ${MAIN_PROJECT}, ${lateTasks.length} later in ${LATE_PROJECT})`);

    // Tasks created later, for the idle session: the first once a third of the backlog is done,
    // each next one once the idle session finished the last (or 30 s later).
    const late: Array<{ key: string; at: number }> = [];
    const doneCount = () => records.filter((x) => x.kind === 'done').length;
    const idleName = names[idleIndex]!;
    const workers = results.filter((r) => r.role !== 'idle');
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

    // The end: sessions blocked in `koor-cli wait` are let go (nothing will come), the idle one's stdin closed.
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
    if (spec.kind === 'koor') {
      const ts = await api<Array<{ id: number; status: string; attempts: number; claimed_by_name: string; data: { key?: string } | null }>>(base, 'GET', '/api/tasks?limit=10000');
      final = ts.map((t) => ({ key: t.data?.key ?? String(t.id), status: t.status, attempts: t.attempts, claimed_by_name: t.claimed_by_name }));
      hookCalls = {};
      for (const n of nodes) {
        const text = await (await fetch(`${n.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
        for (const [k, v] of Object.entries(hookCallsOf(text))) hookCalls[k] = (hookCalls[k] ?? 0) + v;
      }
      const wall = (Date.now() - t0) / 1000;
      serverCpuS = cpuOf() - cpu0 - idleCpuPerS * wall;
      if (postgresPid !== null) postgresCpuS = postgresCpu(postgresPid) - pg0 - idlePgPerS * wall;
      idleCpu = { server_cores: Math.round(idleCpuPerS * 1000) / 1000, postgres_cores: Math.round(idlePgPerS * 1000) / 1000 };
    }
    const doneKeys =
      spec.kind === 'koor'
        ? final.filter((t) => t.status === 'done').map((t) => t.key)
        : [...new Set(records.filter((x) => x.kind === 'done' && x.task !== undefined).map((x) => x.task!))];
    const audit = auditOrigin(origin, spec.tasks, new Set(doneKeys));
    const lastDoneAt = records.filter((x) => x.kind === 'done').reduce((m, x) => Math.max(m, x.at), 0);
    return {
      spec: { kind: spec.kind, label: spec.label, backend: spec.backend, serverArgs: spec.serverArgs, autoLeaseMs: spec.autoLeaseMs, sessions: spec.sessions, features: spec.features, budgetMs: spec.budgetMs, livenessTimeout: spec.livenessTimeout, testRunS: spec.testRunS, giveUpMs: spec.giveUpMs, thinkMs: spec.thinkMs },
      t0,
      drainedAt: drainedAt ?? (spec.kind === 'baseline' && doneKeys.length === spec.tasks.length ? lastDoneAt : null),
      endedAt,
      records: records.sort((a, b) => a.at - b.at),
      sessions: results,
      late,
      leases: [...leases.values()],
      tasks: [...polled.values()],
      joins,
      final,
      audit,
      doneKeys,
      serverCpuS,
      postgresCpuS,
      hookCalls,
      idleCpu,
      waits: waitsOf(waitLog),
      idleHooks: timer?.calls ?? [],
      warnings,
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(apis.map((a) => a.close()));
    await timer?.close();
    await Promise.all(nodes.map((n) => n.stop(5000)));
    tmp.remove();
  }
}
