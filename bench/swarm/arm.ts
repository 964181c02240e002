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
 *
 * What an arm is given and gives back is in arm-types.ts; its servers (and what they say at the
 * end) in servers.ts, its poller in poller.ts, what it puts around the sessions in harness.ts.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runClaude, type FakeApi } from '../clients/claude-code.js';
import { sleep } from '../lib/async.js';
import { makeTempDir, trackChild } from '../lib/cleanup.js';
import { procCpu } from '../lib/cpu.js';
import { postgresCpu } from '../lib/postgres.js';
import type { ServerProc } from '../lib/processes.js';
import type { StepRecord } from './agent.js';
import { BaselineAgent } from './baseline-agent.js';
import type { ArmResult, ArmSpec, AuditDenial, SessionResult, TeamResult, TeamSpec } from './arm-types.js';
import { LATE_PROJECT, MAIN_PROJECT, taskLine, tasksJson, toFileTask, type SwarmTask } from './backlog.js';
import { CLI_JS, cliShim, endSessions, hookTimer, waitsOf } from './harness.js';
import { KoorText, RequestDigest, prefixOf, watchFor } from './injected.js';
import { KoorAgent } from './koor-agent.js';
import { startPoller } from './poller.js';
import { auditOrigin, gitEnv, harnessPush, makeClone, makeOrigin, mergeAudits } from './repo.js';
import { api, deniedEdits, finalTasks, hookCallsOn, serverFlags, startServers } from './servers.js';
import { wireFor, type SeatRun, type SwarmClient } from './wires.js';

/** Between session starts: N clients starting in the same instant only queue on the CPU. */
const START_STAGGER_MS = 150;
/** The tool calls any session may ask for (a bound; a sane run needs a fraction). */
const MAX_REQUESTS = 400;
/** How long the server's CPU is sampled with only the poller running, before the sessions start. */
const IDLE_PROBE_MS = 2000;

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

    // The poller: tasks, leases and agents as the server sees them (this arm's projects and agents only: the server may hold others').
    const mine = new Set(names);
    const poller = startPoller(base, projects, mine, allTasks.length, warnings, spec.kind === 'koor');

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
      if (spec.kind === 'koor' && (poller.allDone || (poller.stuck && workersEnded()))) break;
      if (spec.kind === 'baseline' && workersEnded() && lateIndex >= lateTasks.length && Date.now() - lastProgress > 2000) break;
      // Koor, all done but sessions still waiting on the board: nothing more will come for them.
      await sleep(200);
    }
    const drainedAt = spec.kind === 'koor' ? (poller.allDone ? Date.now() : null) : null;
    log(`${spec.label}: ${poller.allDone ? 'every task done' : poller.stuck ? 'nothing left that can be done' : Date.now() < deadline ? 'every session gave up' : 'stopped at the time limit'} after ${((Date.now() - t0) / 1000).toFixed(1)} s; ending the sessions`);

    await endSessions(results, pids, idleName, closeIdle, (m) => warnings.push(`${spec.label}: ${m}`));
    await Promise.all(runs);
    const endedAt = Date.now();
    log(`${spec.label}: first model request of each session after ${results.map((r) => (r.api.requests[0] ? r.api.requests[0].at - r.startedAt : '-')).join(', ')} ms; all requests: ${results.map((r) => r.api.requests.length).join(', ')}`);
    await poller.stop();

    // What the server says.
    let final: ArmResult['final'] = [];
    let hookCalls: Record<string, number> | null = null;
    let serverCpuS: number | null = null;
    let postgresCpuS: number | null = null;
    let idleCpu: ArmResult['idleCpu'] = null;
    const denials: AuditDenial[] = [];
    if (spec.kind === 'koor') {
      final = await finalTasks(base, projects);
      hookCalls = await hookCallsOn(nodes);
      const wall = (Date.now() - t0) / 1000;
      serverCpuS = cpuOf() - cpu0 - idleCpuPerS * wall;
      if (postgresPid !== null) postgresCpuS = postgresCpu(postgresPid) - pg0 - idlePgPerS * wall;
      idleCpu = { server_cores: Math.round(idleCpuPerS * 1000) / 1000, postgres_cores: Math.round(idlePgPerS * 1000) / 1000 };
      try {
        denials.push(...(await deniedEdits(base, mine, poller.leases)));
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
    const audit = mergeAudits(teamResults, teams.length > 1);
    const lastDoneAt = records.filter((x) => x.kind === 'done').reduce((m, x) => Math.max(m, x.at), 0);
    return {
      spec: { kind: spec.kind, label: spec.label, backend: spec.backend, serverArgs: spec.serverArgs, autoLeaseMs: spec.autoLeaseMs, sessions: seats.length, features: spec.features, budgetMs: spec.budgetMs, livenessTimeout: spec.livenessTimeout, testRunS: spec.testRunS, giveUpMs: spec.giveUpMs, thinkMs: spec.thinkMs },
      t0,
      drainedAt: drainedAt ?? (spec.kind === 'baseline' && doneKeys.length === allTasks.length ? lastDoneAt : null),
      endedAt,
      records: records.sort((a, b) => a.at - b.at),
      sessions: results,
      late,
      leases: [...poller.leases.values()],
      tasks: [...poller.tasks.values()],
      joins: poller.joins,
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
