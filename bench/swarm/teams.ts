/**
 * The swarm's teams arm: one Koor for several repositories at once. Three repositories
 * of one layout — every task may touch the same shared files, `package.json` and `src/index.ts` —
 * each its own bare origin (`<tmp>/alpha/shop.git`, `<tmp>/beta/shop.git`, `<tmp>/gamma/shop.git`)
 * and every clone of each in a folder named `shop`, so only the origin remote tells them apart:
 * `koor-cli init` derives the projects alpha.shop, beta.shop and gamma.shop from it and writes it
 * into the hooks (X-Koor-Repository). Three teams of real Claude Code sessions (the swarm's
 * harness, no killed, tester or idle session) drain one backlog shape each (the swarm's, from the
 * same seed; keys A01…, B01…, G01…, so their own files differ by name and their shared files do
 * not), each in its own project, at once on one server (SQLite, or 3 nodes on one PostgreSQL).
 * Then, on the same server, team alpha's backlog alone, in a fourth repository (alpha-alone.shop):
 * the pace the teams are held to. Meanwhile, unless KOOR_BENCH_SWARM_TEAMS_LOAD=0, beta's and
 * gamma's backlogs run again in the same arm (started with alpha's sessions, as at once), each on
 * a server of its own (SQLite), killed once alpha is done: the box then runs as many clients,
 * hooks and git commands as when the three teams shared the server, and only the sharing differs.
 * On this box's 2 cores the clients are most of the load (a first run without it: a team's pace
 * at once 0.61-0.66x its pace alone on an idle box, turns of 2.7 s against 1.7 s, the server at
 * 140 ms of CPU per task): without the load the ratio measures the box.
 *
 * Goals, per team, same run:
 * - its K tasks done exactly once, 0 rebase conflicts, 0 markers lost or doubled (as the swarm
 *   counts them for one team);
 * - 0 edits refused because of another repository, 0 claims withheld because of one, and no text
 *   naming another repository's agents, project or files — counted from what each client sent its
 *   fake model (the hooks' refusals and context, the tools' results), and from the server's audit
 *   (`lease.denied`, the refused agent's project against the holder's and the lease's);
 * - its pace (tasks done once per minute from its first model request to its last completion)
 *   at least PACE_NOISE of team alpha's alone on the same server.
 */
import type { BenchTable } from '../lib/suite.js';
import type { Postgres } from '../lib/postgres.js';
import { runArm } from './arm.js';
import type { ArmResult, SharedServer, TeamResult, TeamSpec } from './arm-types.js';
import { watchFor } from './injected.js';
import { serverFlags, startServers } from './servers.js';
import { makeBacklog, type SwarmTask } from './backlog.js';
import { figures, pct, type ArmFigures } from './report.js';
import { crossRepo, refusedBy, teamPace, teamView, type CrossRepo } from './team-figures.js';

/** The teams: their names (and their origins' folders, so their projects) and their keys' letters. */
const TEAMS = [
  { name: 'alpha', prefix: 'A' },
  { name: 'beta', prefix: 'B' },
  { name: 'gamma', prefix: 'G' },
] as const;

/**
 * "Within noise": a team's pace at once with the others is at least this share of team alpha's
 * pace alone on the same server in the same run. Quick: 6 tasks over 2 sessions per team, where
 * one task more or less per session is a third of the time; full: 20 tasks over 5 sessions. Both
 * bounds also take in the box: three teams run three times the clients (each turn's client work,
 * hooks and git on the same 2 cores), which the server does not cause.
 */
const PACE_NOISE = { quick: 0.7, full: 0.8 } as const;

export interface TeamsOptions {
  quick: boolean;
  backend: 'sqlite' | 'cluster';
  pg: Postgres | null;
  features: { paths: boolean; checkpoints: boolean };
  thinkMs: number;
  livenessTimeout: string;
  serverArgs: string[];
  autoLeaseMs: number | null;
  lifeLabel: string;
  log: (m: string) => void;
}

export interface TeamsRun {
  backend: 'sqlite' | 'cluster';
  label: string;
  sessions_per_team: number;
  tasks_per_team: number;
  teams: TeamSpec[];
  alone_team: TeamSpec;
  together: ArmResult;
  alone: ArmResult;
  /** The box's load while alpha ran alone: beta's and gamma's backlogs, each on a server of its own (none: KOOR_BENCH_SWARM_TEAMS_LOAD=0). */
  load: string[];
}

/** The counting's own check: what names another repository is seen, one's own is not. Throws when the counting is broken. */
function checkCounting(): void {
  const w = watchFor({ names: ['beta-01', 'alpha-01'], projects: ['beta.shop', 'alpha.shop'], prefixes: ['B', 'A'] }, 'A');
  if (w === null) throw new Error('teams arm: no watch');
  const seen = (s: string) => new RegExp(w.source).test(s);
  const must = ['Koor: package.json is leased by agent beta-01 since 05:42 UTC', 'Ready in beta.shop: #3', 'src/cart/b01.ts', 'B07 add catalog module', 'alpha-01 held it'];
  const mustNot = ['leased by agent alpha-alone-01 since', 'Ready in alpha-alone.shop:', 'src/cart/a01.ts', 'A07 add catalog module', 'beta-010', 'alpha.shopx'];
  const miss = [...must.filter((s) => !seen(s)), ...mustNot.filter(seen).map((s) => `(wrongly) ${s}`)];
  if (refusedBy('Koor: package.json is leased by agent gamma-02 since 05:42 UTC ("x").') !== 'gamma-02') miss.push('refusedBy (edit guard)');
  if (refusedBy('Koor: src/index.ts may have changed since your last git pull: beta-01 held it and let it go since.') !== 'beta-01') miss.push('refusedBy (pull first)');
  if (miss.length > 0) throw new Error(`teams arm: the counting of what names another repository is broken: ${miss.join('; ')}`);
}

export async function runTeams(o: TeamsOptions): Promise<TeamsRun> {
  checkCounting();
  const env = process.env;
  const n = Number(env.KOOR_BENCH_SWARM_TEAM_SESSIONS ?? (o.quick ? 2 : Math.max(1, Math.floor(Number(env.KOOR_BENCH_SWARM_SESSIONS ?? 16) / 3))));
  const k = Number(env.KOOR_BENCH_SWARM_TEAM_TASKS ?? (o.quick ? 6 : 20));
  // The swarm's backlog shape, from the swarm's seed: the same for every team but for the keys' letter.
  const backlog = (prefix: string): SwarmTask[] => makeBacklog({ main: k, late: 0, sharedShare: 0.25, depsShare: 0.15, pathsShare: o.features.paths ? 0.7 : 0, seed: 44, prefix });
  const team = (name: string, owner: string, prefix: string): TeamSpec => ({ name, owner, sessions: Array.from({ length: n }, (_, i) => `${owner}-${String(i + 1).padStart(2, '0')}`), tasks: backlog(prefix), roles: false });
  const teams = TEAMS.map((t) => team(t.name, t.name, t.prefix));
  const aloneTeam = team('alpha alone', 'alpha-alone', 'A');
  const loaded = env.KOOR_BENCH_SWARM_TEAMS_LOAD !== '0';
  // About 10 model turns per task over the team's sessions, the clients of three teams on this box's cores: a bound, far above a sane run.
  const budgetMs = (o.quick ? 60_000 : Math.max(180_000, k * 8_000)) + Math.ceil((k * 10 * o.thinkMs * 1.5) / n);
  const where = o.backend === 'sqlite' ? 'sqlite' : '3 nodes pg';
  const label = `teams ${where}, auto-lease ${o.lifeLabel}`;
  const base = {
    kind: 'koor' as const,
    backend: o.backend,
    serverArgs: o.serverArgs,
    autoLeaseMs: o.autoLeaseMs,
    features: o.features,
    budgetMs,
    livenessTimeout: o.livenessTimeout,
    testRunS: 0,
    giveUpMs: o.quick ? 10_000 : 20_000,
    thinkMs: o.thinkMs,
    pg: o.pg,
    log: o.log,
    // Koor's part of a turn: every session's HTTP hooks timed at a pass-through.
    timeHooks: true,
  };
  o.log(`== ${label}: ${teams.length} teams × ${n} sessions × ${k} tasks at once on one server, then team alpha alone on it${loaded ? ' (beta and gamma again meanwhile, each on a server of its own)' : ''}`);
  const server = await startServers(o.backend, o.pg, serverFlags(base));
  const loadServers: SharedServer[] = [];
  try {
    // At once first: a server (and a box) warming up then is charged to the teams, not to the pace they are held to.
    const together = await runArm({ ...base, label: `${label}: 3 at once`, sessions: n * teams.length, tasks: teams.flatMap((t) => t.tasks), teams, server });
    // The load: beta's and gamma's sessions as at once, each team on a SQLite server of its own (the box's load, not a second cluster).
    if (loaded) for (let i = 1; i < TEAMS.length; i++) loadServers.push(await startServers('sqlite', null, serverFlags(base)));
    const loadTeams = TEAMS.slice(1)
      .filter(() => loaded)
      .map((t, i) => ({ ...team(`${t.name} (load, own server)`, `${t.name}-own`, t.prefix), load: loadServers[i]! }));
    const alone = await runArm({
      ...base,
      label: `${label}: alpha alone`,
      sessions: n * (1 + loadTeams.length),
      tasks: aloneTeam.tasks,
      teams: [aloneTeam, ...loadTeams],
      server,
      elsewhere: { names: [...teams, ...loadTeams].flatMap((t) => t.sessions), projects: together.teams.map((t) => t.project), prefixes: TEAMS.map((t) => t.prefix) },
    });
    return { backend: o.backend, label, sessions_per_team: n, tasks_per_team: k, teams, alone_team: aloneTeam, together, alone, load: loadTeams.map((t) => t.name) };
  } finally {
    await Promise.all([server, ...loadServers].flatMap((s) => s.nodes.map((x) => x.stop(5000))));
  }
}

interface TeamRow {
  run: string;
  backend: string;
  team: string;
  project: string;
  why: string;
  alone: boolean;
  figures: ArmFigures;
  cross: CrossRepo;
  pace: ReturnType<typeof teamPace>;
  /** Its pace at once over alpha's alone (null for the alone row). */
  ratio: number | null;
  /** Its sessions' HTTP hook round trips (ms, at the pass-through): Koor's part of each turn. */
  hook_ms: { n: number; p50: number | null; p99: number | null };
  server_cpu_ms_per_task: number | null;
  /** The box's 1-minute load average at the arm's start and end. */
  loadavg: [number, number];
}

const r2 = (x: number): number => Math.round(x * 100) / 100;
const yes = (b: boolean | null): string => (b === null ? '-' : b ? 'yes' : 'NO');
const n0 = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : String(x));

/** The teams arm's figures, tables, goals and notes, from its runs (none: nothing). */
export function teamsReport(runs: readonly TeamsRun[], quick: boolean): {
  tables: BenchTable[];
  goals: Array<Record<string, boolean | null | string> & { arm: string }>;
  notes: string[];
  warnings: string[];
  figures: ArmFigures[];
  json: unknown;
} {
  const noise = quick ? PACE_NOISE.quick : PACE_NOISE.full;
  const rows: TeamRow[] = [];
  const warnings: string[] = [];
  for (const run of runs) {
    for (const a of [run.together, run.alone]) for (const w of a.warnings) warnings.push(`${a.spec.label}: ${w}`);
    const cpu = (a: ArmResult): number | null => (a.serverCpuS === null || a.doneKeys.length === 0 ? null : Math.round((a.serverCpuS * 1_000_000) / a.doneKeys.length) / 1000);
    const rowOf = (a: ArmResult, spec: TeamSpec, alone: boolean): TeamRow => {
      const t: TeamResult = a.teams.find((x) => x.name === spec.name)!;
      const view = teamView(a, t);
      const f = figures(view, spec.tasks);
      const hooks = view.hooks.map((h) => h.out - h.in);
      return { run: run.label, backend: run.backend, team: spec.name, project: t.project, why: t.why, alone, figures: f, cross: crossRepo(view, t), pace: teamPace(view, f), ratio: null, hook_ms: { n: hooks.length, p50: pct(hooks, 50), p99: pct(hooks, 99) }, server_cpu_ms_per_task: cpu(a), loadavg: a.loadavg };
    };
    const aloneRow = rowOf(run.alone, run.alone_team, true);
    for (const spec of run.teams) {
      const row = rowOf(run.together, spec, false);
      row.ratio = row.pace.per_min !== null && aloneRow.pace.per_min ? r2(row.pace.per_min / aloneRow.pace.per_min) : null;
      rows.push(row);
    }
    rows.push(aloneRow);
  }
  const goals = rows.map((r) => ({
    arm: `${r.run}: ${r.team}${r.alone ? '' : ' (at once)'}`,
    all_done_once: r.figures.done_once === r.figures.tasks,
    no_rebase_conflicts: r.figures.rebase_conflicts === 0,
    no_markers_lost_or_doubled: r.figures.markers.lost.length === 0 && r.figures.markers.doubled.length === 0,
    no_edit_denied_by_another_repository: r.cross.denied_other === 0 && r.cross.audit_denied_other === 0,
    no_claim_withheld_by_another_repository: r.cross.withheld_other === 0,
    nothing_names_another_repository: r.cross.digests_naming_other === 0 && r.cross.results_naming_other === 0,
    pace_within_noise_of_alone: r.alone ? null : r.ratio !== null && r.ratio >= noise,
  }));
  if (rows.length === 0) return { tables: [], goals: [], notes: [], warnings, figures: [], json: null };
  const first = runs[0]!;
  const tables: BenchTable[] = [
    {
      title: `swarm, teams: ${first.teams.length} repositories of one layout, each cloned into folders named shop, ${first.sessions_per_team} Claude Code sessions × ${first.tasks_per_team} tasks per team, all at once on one server; then team alpha alone on it`,
      columns: ['run', 'team', 'project', 'done once', 'dups', 'rebase conflicts', 'markers lost/doubled', 'refused edits own/other', 'audit lease.denied own/other', 'claims withheld own/other', 'context/results naming another repo', 'work s', 'tasks/min', 'x alone', 'wall tasks/min', 'hook ms p50/p99', 'server CPU ms/task', 'box load 1m'],
      rows: rows.map((r) => [
        r.run,
        r.team,
        r.project,
        `${r.figures.done_once}/${r.figures.tasks}${r.figures.failed.length > 0 ? ` (${r.figures.failed.length} failed)` : ''}`,
        r.figures.duplicates.length,
        r.figures.rebase_conflicts,
        `${r.figures.markers.lost.length}/${r.figures.markers.doubled.length}`,
        `${r.cross.denied_own}/${r.cross.denied_other}`,
        `${r.cross.audit_denied - r.cross.audit_denied_other}/${r.cross.audit_denied_other}`,
        `${r.cross.withheld_own}/${r.cross.withheld_other}`,
        `${r.cross.digests_naming_other}/${r.cross.results_naming_other}`,
        n0(r.pace.work_s),
        n0(r.pace.per_min),
        r.alone ? '1 (alone)' : r.ratio === null ? '-' : `${r.ratio.toFixed(2)}`,
        n0(r.pace.wall_per_min),
        `${n0(r.hook_ms.p50)}/${n0(r.hook_ms.p99)}`,
        n0(r.server_cpu_ms_per_task),
        `${r.loadavg[0]}→${r.loadavg[1]}`,
      ]),
    },
    {
      title: `swarm: goals of the teams arm (pace within noise: ≥ ${noise}x team alpha's alone, same server, same run)`,
      columns: ['team', 'K/K once', '0 conflicts', '0 markers lost', '0 edits refused by another repo', '0 claims withheld by another repo', 'nothing names another repo', `pace ≥ ${noise}x alone`],
      rows: goals.map((g) => [g.arm, yes(g.all_done_once), yes(g.no_rebase_conflicts), yes(g.no_markers_lost_or_doubled), yes(g.no_edit_denied_by_another_repository), yes(g.no_claim_withheld_by_another_repository), yes(g.nothing_names_another_repository), yes(g.pace_within_noise_of_alone)]),
    },
  ];
  const notes = [
    `teams: each repository a bare origin <tmp>/<team>/shop.git, every clone <tmp>/<session>/shop; the project is what \`koor-cli init\` printed for the clones (${[...new Set(rows.map((r) => `${r.project}: ${r.why}`))].join('; ')}), the tasks are created in it and the hooks carry it (X-Koor-Repository). Sessions are all workers (no killed, tester or idle session); the backlog is the swarm's shape (25 % touch package.json or src/index.ts, 15 % wait on an earlier task, 70 % name their paths) from the same seed, keys A01…/B01…/G01….`,
    'refused edits own/other: PreToolUse refusals (the edit guard, pull first) in what each client sent its fake model, by whether the holder they name is of the team (other: of another team, named nowhere, or the text names another repository). audit lease.denied: the server\'s record of the team\'s refused edits; other when the holder\'s registered project or the lease\'s differs from the refused agent\'s.',
    'claims withheld own/other: claims answered `no task ready in <p>: n ready tasks, all blocked: <path> held by <x>`, by whether <x> is of the team. A claim that got a task does not say which better ones it passed over: those are not counted.',
    'context/results naming another repo: Koor text the client put into its model\'s context (SessionStart orientation, prompt, PostToolUse digests, Stop and wake text) / other text it sent back (the tools\' results: claims, lease commands, task lists) that names another repository: one of its agents, its project, or one of its own files or tasks (src/<topic>/b07.ts, "B07 add …"). Shared files have the same paths in every repository: a line about one names its holder, and is caught by the name.',
    `tasks/min: tasks done once per minute from the team's first model request (its clients up) to its last completion: a client's start is the box's CPU, not the server's (wall tasks/min: from the sessions' spawn). x alone: that pace at once over team alpha's alone on the same server in the same run, which ran after the teams; within noise is ≥ ${PACE_NOISE.quick}x in quick runs (6 tasks over 2 sessions per team) and ≥ ${PACE_NOISE.full}x in full ones (20 over 5). hook ms: the round trip of the team's HTTP hooks (UserPromptSubmit, PreToolUse, PostToolUse, Stop; every session's, timed at a pass-through in front of the server), Koor's part of each turn. server CPU ms/task: the server's CPU over each arm (the poller's idle cost taken out) per task done. box load 1m: the 1-minute load average at the arm's start and end (the box has 2 cores; other work on it shows here, and makes every figure of the run noisier).`,
    runs.some((r) => r.load.length > 0)
      ? 'load: while alpha ran alone, beta\'s and gamma\'s backlogs ran again in the same arm (their sessions started with alpha\'s, as at once), each on a SQLite server of its own, and were killed once alpha was done: as many clients, hooks and git commands on the box as at once, only not on alpha\'s server — so x alone measures the sharing of the server, not the box (2 cores: a first run without the load had a team\'s turns at 1.7 s alone on an idle box, 2.7 s at once, the server at 140 ms of CPU per task). KOOR_BENCH_SWARM_TEAMS_LOAD=0 runs alpha alone on an idle box.'
      : 'alpha ran alone on an idle box (KOOR_BENCH_SWARM_TEAMS_LOAD=0): at once the box runs three times the clients, so x alone measures the box as much as the server.',
  ];
  for (const r of rows) {
    if (r.figures.not_done.length > 0) notes.push(`${r.run}: ${r.team}: not done ${r.figures.not_done.join(', ')}`);
    if (r.figures.duplicates.length > 0) notes.push(`${r.run}: ${r.team}: duplicates ${r.figures.duplicates.join('; ')}`);
    for (const s of r.cross.samples) notes.push(`${r.run}: ${r.team}: another repository: ${s}`);
  }
  const json = runs.map((run) => ({
    label: run.label,
    backend: run.backend,
    sessions_per_team: run.sessions_per_team,
    tasks_per_team: run.tasks_per_team,
    pace_noise: noise,
    backlog: run.alone_team.tasks,
    load: run.load,
    teams: rows.filter((r) => r.run === run.label).map((r) => ({ team: r.team, project: r.project, why: r.why, alone: r.alone, cross: r.cross, pace: r.pace, ratio: r.ratio, hook_ms: r.hook_ms, loadavg: r.loadavg, server_cpu_ms_per_task: r.server_cpu_ms_per_task, figures: r.figures })),
    denials: [...run.together.denials, ...run.alone.denials],
  }));
  return { tables, goals, notes, warnings, figures: rows.map((r) => r.figures), json };
}
