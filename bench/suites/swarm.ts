/**
 * Swarm: N real Claude Code sessions drain a backlog of K tasks in N clones of one
 * origin repository — with Koor, and without it (the baseline) in the same run.
 *
 * Each session is the pinned client the e2e tests drive (bench/clients/claude-code.ts), offline against
 * its own scripted fake Messages API; the fake model plays a disciplined agent through the
 * client's real tools (bench/swarm/agent.ts): Bash `koor-cli task claim` → `git pull --rebase` →
 * Write/Edit each file of the task (its marker line) → `koor-cli task checkpoint` → Bash `git
 * commit` + `git push` → `koor-cli task done`, until nothing is left. With Koor every clone has
 * the hooks `koor-cli init --claude-code` writes and `KOOR_AGENT_NAME` per session; the baseline
 * runs the same sessions without them, taking tasks from tasks.json in the repository
 * (bench/swarm/backlog.ts says how the backlog is made, bench/swarm/arm.ts how a run goes).
 *
 *   npm run bench -- swarm [--quick]
 *
 * quick: 4 sessions, 12 tasks, the baseline and Koor on SQLite (about 3 minutes); then the teams
 *        arm on SQLite (1½-3 minutes).
 * full:  16 sessions, 64 tasks; the baseline, Koor on SQLite under each auto-lease lifetime, and
 *        Koor on 3 nodes on one PostgreSQL (sessions spread over the nodes); then the teams arm
 *        on SQLite and on the 3 nodes.
 *
 * The mixed team (arm `mixed`, bench/swarm/mixed.ts): one session of each client Koor proves with
 * its real binary (Claude Code, Codex, Gemini CLI, Copilot CLI, OpenCode) in turn — two of each in
 * the full run — drains one repository's backlog (quick 20 tasks, full 40) on one SQLite server;
 * KOOR_BENCH_SWARM_MIXED_CLIENTS / _SESSIONS / _TASKS change it. Its figures also go to
 * bench/results/swarm-mixed.json.
 *
 * The teams arm (arm `teams`): three repositories of one layout (package.json and
 * src/index.ts shared by their tasks), each its own origin (`<tmp>/alpha/shop.git`, `beta/…`,
 * `gamma/…`: Koor's projects alpha.shop, beta.shop, gamma.shop, from the origin remote) and every
 * clone of each in a folder named `shop`; three teams of sessions (N/3 each, no roles) drain the
 * same backlog shape, each in its own project, at once on one server — then, on the same server,
 * team alpha's backlog alone in a fourth repository (alpha-alone.shop), to compare its pace (with
 * the other two teams' clients meanwhile on servers of their own, so the box is as loaded).
 * bench/swarm/teams.ts has the goals. Quick: SQLite only, 3 teams × 2 sessions × 6 tasks (its own
 * CI step: `KOOR_BENCH_SWARM_ARMS=teams`); full: SQLite and the 3-node cluster, 3 × 5 × 20.
 *
 * Environment: KOOR_BENCH_SWARM_SESSIONS, KOOR_BENCH_SWARM_TASKS (the main backlog; one or two
 * more come later for the idle session), KOOR_BENCH_SWARM_ARMS (baseline,sqlite,cluster,teams,mixed —
 * `teams` runs on the mode's backends, `teams-sqlite` / `teams-cluster` on one),
 * KOOR_BENCH_SWARM_TEAM_SESSIONS / KOOR_BENCH_SWARM_TEAM_TASKS (per team),
 * KOOR_BENCH_SWARM_TEAMS_LOAD=0 (team alpha alone on an idle box),
 * KOOR_BENCH_SWARM_LIFETIMES (auto-lease lifetimes to try, e.g. `10s,60s`),
 * KOOR_BENCH_SWARM_THINK_MS (the fake model's think time per answer, default 1000; 0 = instant), KOOR_BENCH_SWARM_ASSERT=1
 * (a goal missed fails the run, exit 1, as work lost or done twice always does: CI runs the quick
 * variant so).
 *
 * Output: bench/results/swarm.json, the tables, and the timeline bench/results/swarm-timeline.svg;
 * the teams arm's figures also in bench/results/swarm-teams.json.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLAUDE_CODE_VERSION, installClaudeCodeBinary } from '../clients/claude-code.js';
import { fmtMs } from '../lib/format.js';
import { REPO_ROOT, RESULTS_DIR, type BenchOptions, type BenchTable } from '../lib/suite.js';
import { startPostgres, type Postgres } from '../lib/postgres.js';
import { runArm } from '../swarm/arm.js';
import type { ArmResult, ArmSpec } from '../swarm/arm-types.js';
import { POLL_MS } from '../swarm/poller.js';
import { makeBacklog, type SwarmTask } from '../swarm/backlog.js';
import { figures, type ArmFigures } from '../swarm/report.js';
import { timelineSvg } from '../swarm/timeline.js';
import { runTeams, teamsReport, type TeamsRun } from '../swarm/teams.js';
import { installed, SWARM_CLIENTS, type SwarmClient } from '../swarm/wires.js';
import { mixedReport, runMixed, type MixedRun } from '../swarm/mixed.js';

/** The suite's own time limits (run.ts): a full run drives hundreds of model turns per arm; the quick run with the teams arm too is two runs' worth (CI runs them as two steps). */
export const timeoutMs = { quick: 600_000, full: 5_400_000 };

/** The koor-server flag that sets the auto-lease lifetime: an auto-lease ends once its holder has not edited the file this long (0: for its session). */
const AUTO_LEASE_FLAG = '--auto-lease-idle';
/** koor-server --liveness-timeout: short, so the killed agent's task comes back within the run. */
const LIVENESS_TIMEOUT = '15s';
/** The tester's test suite (one Bash call): well past the liveness timeout, so an agent not held busy through it would go stale. */
const TEST_RUN_S = 24;
/** The swarm's goals. */
const GOAL_WAKE_P99_MS = 1000;
const GOAL_TOKENS_PER_TASK = 150;

const lifeLabel = (ms: number): string => (ms === 0 ? 'session' : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);

function durationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (!m) throw new Error(`not a duration: ${s}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

/** What the built CLI (and so this build's server) can do: `task checkpoint`, `task add --paths`. */
function features(): { paths: boolean; checkpoints: boolean } {
  const cli = path.join(REPO_ROOT, 'dist', 'cli-cjs', 'main.js');
  // Usage goes to stderr.
  const help = (args: string[]): string => {
    const r = spawnSync(process.execPath, [cli, ...args, '--help'], { encoding: 'utf8', timeout: 10_000 });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`;
  };
  return { paths: /--paths/.test(help(['task', 'add'])), checkpoints: /--next/.test(help(['task', 'checkpoint'])) };
}

/** Wake p99, and of that wake how long Koor took (the task's POST to the Stop hook's waiter exiting 2, and the new turn's UserPromptSubmit hook); the rest is the client's. */
function wakeCell(f: ArmFigures): string {
  if (f.kind === 'baseline') return 'none';
  const worst = f.wake_split.find((w) => w.total_ms === f.wake_p99_ms);
  if (worst?.waiter_ms == null) return ms(f.wake_p99_ms);
  return `${ms(f.wake_p99_ms)} (Koor ${ms(worst.waiter_ms)}${worst.hook_ms != null ? ` + hook ${ms(worst.hook_ms)}` : ''})`;
}

/** The killed agent's task: finished by whom (after how many hand-overs), from its checkpoint, how much of its work was done again. */
function killedCell(f: ArmFigures): string {
  const k = f.killed;
  if (k === null) return '-';
  if (!k.resumed) {
    const why = f.failed.includes(k.task) ? `parked as failed (claimed after the kill by ${k.hand_overs.join(', ') || 'nobody'})` : f.not_done.includes(k.task) ? 'never done' : `done by ${k.resumed_by ?? '?'}`;
    return `no: ${k.task} ${why}`;
  }
  const via = k.hand_overs.length > 1 ? ` via ${k.hand_overs.slice(0, -1).join(', ')}` : '';
  return `yes: ${k.resumed_by}${via}${k.from_checkpoint ? ', from checkpoint' : ''}; redid ${n0(k.files_redone)}/${k.victim_edited} files`;
}

const yes = (b: boolean | null): string => (b === null ? '-' : b ? 'yes' : 'NO');
const n0 = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : String(x));
const ms = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : fmtMs(x));

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const { quick, log } = opts;
  const why = await installClaudeCodeBinary(5 * 60_000);
  if (why !== null) return { ok: true, skipped: why, warnings: [`swarm: skipped, no Claude Code client: ${why}`] };

  const env = process.env;
  const sessions = Number(env.KOOR_BENCH_SWARM_SESSIONS ?? (quick ? 4 : 16));
  const mainTasks = Number(env.KOOR_BENCH_SWARM_TASKS ?? (quick ? 11 : 62));
  const lateTasks = quick ? 1 : 2;
  const armsWanted = (env.KOOR_BENCH_SWARM_ARMS ?? (quick ? 'baseline,sqlite,teams,mixed' : 'baseline,sqlite,cluster,teams,mixed')).split(',').map((s) => s.trim());
  // The teams arm's backends: quick on SQLite, full on SQLite and the cluster.
  const teamsOn = (['sqlite', 'cluster'] as const).filter((b) => armsWanted.includes(`teams-${b}`) || (armsWanted.includes('teams') && (b === 'sqlite' || !quick)));
  // Each lifetime tried is one Koor arm on SQLite; the cluster arm runs with the first. 0 = for the session (the old behaviour).
  const lifetimes = (env.KOOR_BENCH_SWARM_LIFETIMES ?? (quick ? '2m' : '2m,10s,30s,0')).split(',').map((s) => durationMs(s));
  const feats = features();
  const tasks: SwarmTask[] = makeBacklog({ main: mainTasks, late: lateTasks, sharedShare: 0.25, depsShare: 0.15, pathsShare: feats.paths ? 0.7 : 0, seed: 44 });
  // The fake model answers after a think time, as a real one does (seconds per turn): with an
  // instant model N clients on this box's 2 cores are a CPU stress test, not a team at work, and
  // the client's own turn start then dominates every latency (a wake took 1.1-2.8 s, Koor's part of
  // it 35-540 ms). 0 gives the instant model back.
  const thinkMs = Number(env.KOOR_BENCH_SWARM_THINK_MS ?? 1000);
  // About 10 model turns per task, spread over the working sessions.
  const budgetMs = (quick ? 75_000 : Math.max(240_000, mainTasks * 8_000)) + Math.ceil((mainTasks * 10 * thinkMs) / Math.max(1, sessions - 2));
  const warnings: string[] = [];
  if (!feats.paths) warnings.push('this build has no task paths (claims do not lease the task\'s files): the Koor arms ran with hook auto-leases only');
  if (!feats.checkpoints) warnings.push('this build has no task checkpoints: the Koor agents ran without them');
  log(`client ${CLAUDE_CODE_VERSION}; ${sessions} sessions, ${tasks.length} tasks (${mainTasks} + ${lateTasks} later); features: paths ${feats.paths}, checkpoints ${feats.checkpoints}; arms: ${armsWanted.join(', ')}`);

  const arms: ArmResult[] = [];
  let mixedRun: MixedRun | null = null;
  let mixedSame: MixedRun | null = null;
  let mixedBaseline: MixedRun | null = null;
  const teamRuns: TeamsRun[] = [];
  let pg: Postgres | null = null;
  const stopPostgres = () => {
    pg?.stop();
    pg = null;
  };
  try {
    const base = { sessions, tasks, features: feats, budgetMs, livenessTimeout: LIVENESS_TIMEOUT, testRunS: TEST_RUN_S, giveUpMs: quick ? 10_000 : 20_000, thinkMs, pg: null, log };
    const specs: ArmSpec[] = [];
    if (armsWanted.includes('baseline')) specs.push({ ...base, kind: 'baseline', label: 'baseline (tasks.json)', backend: 'none', serverArgs: [], autoLeaseMs: null });
    if (armsWanted.includes('sqlite')) {
      for (const life of lifetimes) specs.push({ ...base, kind: 'koor', label: `koor sqlite, auto-lease ${lifeLabel(life)}`, backend: 'sqlite', serverArgs: [AUTO_LEASE_FLAG, `${life / 1000}s`], autoLeaseMs: life === 0 ? null : life });
    }
    if (armsWanted.includes('cluster') || teamsOn.includes('cluster')) {
      const started = await startPostgres();
      if ('skipped' in started) warnings.push(`cluster arm skipped: ${started.skipped}`);
      else {
        pg = started;
        // Ctrl-C ends the run with process.exit (run.ts), past the finally below: PostgreSQL is not a tracked child.
        process.once('exit', stopPostgres);
        const life = lifetimes[0]!;
        if (armsWanted.includes('cluster')) specs.push({ ...base, pg, kind: 'koor', label: `koor 3 nodes pg, auto-lease ${lifeLabel(life)}`, backend: 'cluster', serverArgs: [AUTO_LEASE_FLAG, `${life / 1000}s`], autoLeaseMs: life === 0 ? null : life });
      }
    }
    for (const spec of specs) {
      log(`== ${spec.label}`);
      arms.push(await runArm(spec));
    }
    // The teams arm, on each of its backends, with the first auto-lease lifetime.
    for (const backend of teamsOn) {
      if (backend === 'cluster' && pg === null) continue;
      const life = lifetimes[0]!;
      teamRuns.push(
        await runTeams({
          quick,
          backend,
          pg,
          features: feats,
          thinkMs,
          livenessTimeout: LIVENESS_TIMEOUT,
          serverArgs: [AUTO_LEASE_FLAG, `${life / 1000}s`],
          autoLeaseMs: life === 0 ? null : life,
          lifeLabel: lifeLabel(life),
          log,
        }),
      );
    }
    // The mixed team: the five clients Koor proves with their real binaries, in turn, on one repository.
    if (armsWanted.includes('mixed')) {
      let which = (env.KOOR_BENCH_SWARM_MIXED_CLIENTS ?? SWARM_CLIENTS.join(',')).split(',').map((c) => {
        if (!(SWARM_CLIENTS as readonly string[]).includes(c.trim())) throw new Error(`KOOR_BENCH_SWARM_MIXED_CLIENTS: no client ${c} (${SWARM_CLIENTS.join(', ')})`);
        return c.trim() as SwarmClient;
      });
      const missing = which.filter((c) => !installed(c));
      if (missing.length > 0) warnings.push(`mixed team: ${missing.join(', ')} not installed here (npm run test:setup): left out`);
      which = which.filter((c) => installed(c));
      const n = Number(env.KOOR_BENCH_SWARM_MIXED_SESSIONS ?? (quick ? which.length : 2 * which.length));
      const k = Number(env.KOOR_BENCH_SWARM_MIXED_TASKS ?? (quick ? 20 : 40));
      const life = lifetimes[0]!;
      const label = `koor sqlite, mixed clients, auto-lease ${lifeLabel(life)}`;
      log(`== ${label}: ${n} sessions (${which.join(', ')} in turn), ${k} tasks`);
      const mixedBase = { ...base, serverArgs: [AUTO_LEASE_FLAG, `${life / 1000}s`], autoLeaseMs: life === 0 ? null : life, budgetMs: (quick ? 120_000 : 300_000) + Math.ceil((k * 10 * thinkMs) / n) };
      if (which.length > 0) {
        mixedRun = await runMixed({ quick, kind: 'koor', clients: which, sessions: n, tasks: k, label, base: mixedBase });
        // The same mix without Koor (tasks.json), the pace the goal compares with.
        log(`== the same mix without Koor: ${n} sessions, ${k} tasks`);
        mixedBaseline = await runMixed({ quick, kind: 'baseline', clients: which, sessions: n, tasks: k, label: 'mixed clients, baseline (tasks.json)', base: mixedBase });
      }
      // The full run: as many Claude Code sessions on the same backlog, the pace the mixed team is compared with.
      if (!quick && mixedRun !== null) {
        log(`== the same with Claude Code only: ${n} sessions, ${k} tasks`);
        mixedSame = await runMixed({ quick, kind: 'koor', clients: ['claude-code'], sessions: n, tasks: k, label: `koor sqlite, ${n} Claude Code, auto-lease ${lifeLabel(life)}`, base: mixedBase });
      }
    }
  } finally {
    stopPostgres();
    process.off('exit', stopPostgres);
  }

  const figs: ArmFigures[] = arms.map((a) => figures(a, tasks));
  for (const f of figs) for (const w of f.warnings) warnings.push(`${f.label}: ${w}`);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const svgFile = path.join(RESULTS_DIR, 'swarm-timeline.svg');
  fs.writeFileSync(svgFile, timelineSvg([...arms, ...teamRuns.flatMap((r) => [r.together, r.alone]), ...[mixedRun, mixedBaseline, mixedSame].flatMap((r) => (r ? [r.arm] : []))]));
  const teams = teamsReport(teamRuns, quick);
  warnings.push(...teams.warnings);
  const mixed = mixedReport(mixedRun, mixedBaseline, mixedSame);
  if (mixedRun !== null) fs.writeFileSync(path.join(RESULTS_DIR, 'swarm-mixed.json'), `${JSON.stringify({ date: new Date().toISOString(), quick, mixed: mixed.json, notes: mixed.notes }, null, 2)}\n`);
  // The teams arm's figures also on their own (CI runs it as a step of its own, whose swarm.json the next step's replaces).
  if (teamRuns.length > 0) fs.writeFileSync(path.join(RESULTS_DIR, 'swarm-teams.json'), `${JSON.stringify({ date: new Date().toISOString(), quick, goals: teams.goals, teams: teams.json, notes: teams.notes, warnings: teams.warnings }, null, 2)}\n`);

  // Goals, per Koor arm; the throughput against the baseline of the same run.
  const baseline = figs.find((f) => f.kind === 'baseline') ?? null;
  /**
   * Throughput on the same work: the baseline leaves the killed agent's task (and what waits on
   * it, and the late tasks) undone, so each arm's rate is taken over its first M tasks done once,
   * M the smaller of the two counts — else Koor would be charged the liveness timeout for work the
   * baseline never does. tasks_per_min (to each arm's last completion) is reported beside it.
   */
  const sameWork = (f: ArmFigures): { tasks: number; koor_s: number; baseline_s: number; koor_per_min: number; baseline_per_min: number } | null => {
    if (baseline === null) return null;
    const m = Math.min(f.done_times_s.length, baseline.done_times_s.length);
    if (m === 0) return null;
    const k = f.done_times_s[m - 1]!;
    const b = baseline.done_times_s[m - 1]!;
    return { tasks: m, koor_s: k, baseline_s: b, koor_per_min: Math.round((m / k) * 600) / 10, baseline_per_min: Math.round((m / b) * 600) / 10 };
  };
  const goals = figs
    .filter((f) => f.kind === 'koor')
    .map((f) => ({
      arm: f.label,
      all_done_once: f.done_once === f.tasks,
      no_rebase_conflicts: f.rebase_conflicts === 0,
      no_markers_lost_or_doubled: f.markers.lost.length === 0 && f.markers.doubled.length === 0,
      killed_task_finished_from_checkpoint: f.killed === null ? null : f.killed.resumed && f.killed.from_checkpoint,
      long_command_kept_claim: f.long_command === null ? null : f.long_command.kept,
      wake_p99_le_1s: f.wake_p99_ms === null ? false : f.wake_p99_ms <= GOAL_WAKE_P99_MS,
      tokens_per_task_le_150: f.tokens?.per_task === null || f.tokens === null ? null : f.tokens.per_task <= GOAL_TOKENS_PER_TASK,
      no_tokens_in_quiet_turns: f.tokens === null ? null : f.tokens.tokens_in_quiet_turns === 0,
      no_shared_file_blocked_past_lifetime: f.shared_blocked_ms.over_lifetime === null ? null : f.shared_blocked_ms.over_lifetime === 0,
      throughput_ge_baseline: sameWork(f) === null ? null : sameWork(f)!.koor_per_min >= sameWork(f)!.baseline_per_min,
    }));

  const sameWorkCell = (f: ArmFigures): string => {
    if (f.kind === 'baseline') return '-';
    const s = sameWork(f);
    return s === null ? '-' : `${s.koor_per_min} vs ${s.baseline_per_min} (first ${s.tasks}: ${s.koor_s} s vs ${s.baseline_s} s)`;
  };
  const tables: BenchTable[] = figs.length === 0 ? [] : [
    {
      title: `swarm: ${sessions} Claude Code sessions (${CLAUDE_CODE_VERSION}), ${tasks.length} tasks; one session killed mid-task, one in a ${TEST_RUN_S}-s test run, one idle (woken by ${lateTasks} task${lateTasks > 1 ? 's' : ''} created later); the fake model thinks ${thinkMs} ms per answer`,
      columns: ['arm', 'done once', 'dups', 'rebase conflicts', 'edits denied', 'pull first', 'markers lost/doubled', 'killed task resumed', 'wake p99', 'last done s', 'sessions end s', 'tasks/min', 'same work: tasks/min'],
      rows: figs.map((f) => [
        f.label,
        `${f.done_once}/${f.tasks}${f.failed.length > 0 ? ` (${f.failed.length} failed)` : ''}`,
        f.duplicates.length,
        f.rebase_conflicts,
        f.edits_denied,
        f.kind === 'baseline' ? '-' : f.pull_first,
        `${f.markers.lost.length}/${f.markers.doubled.length}`,
        killedCell(f),
        wakeCell(f),
        n0(f.last_done_s),
        n0(f.sessions_end_s),
        n0(f.tasks_per_min),
        sameWorkCell(f),
      ]),
    },
    {
      title: 'swarm: latency and cost per task (ms; tokens o200k, from the requests the fake API received)',
      columns: ['arm', 'claim→done p50', 'p99', 'ready→claim p50', 'p99', 'Koor tokens/task', 'per session', 'quiet turns (with Koor text)', 'hook calls/task', 'server CPU ms/task', 'PG CPU ms/task', 'model turns/task'],
      rows: figs.map((f) => [
        f.label,
        ms(f.claim_to_done_ms.p50),
        ms(f.claim_to_done_ms.p99),
        ms(f.ready_to_claim_ms.p50),
        ms(f.ready_to_claim_ms.p99),
        f.tokens === null ? '-' : n0(f.tokens.per_task),
        f.tokens === null ? '-' : `${Math.round(f.tokens.total / f.sessions)} (${Math.min(...Object.values(f.tokens.per_session))}-${Math.max(...Object.values(f.tokens.per_session))})`,
        f.tokens === null ? '-' : `${f.tokens.quiet_turns} (${f.tokens.quiet_turns_with_koor_text}: ${f.tokens.tokens_in_quiet_turns} tokens)`,
        n0(f.hook_calls_per_task),
        n0(f.server_cpu_ms_per_task),
        n0(f.postgres_cpu_ms_per_task),
        n0(f.model_requests_per_task),
      ]),
    },
    {
      title: `swarm: shared files (package.json, src/index.ts) — how long each lease on one lived (ms, ±${POLL_MS} ms poll)`,
      columns: ['arm', 'auto-lease lifetime', 'task leases n', 'p50', 'max', 'auto-leases n', 'p50', 'max', 'after last edit p50', 'max', 'past lifetime'],
      rows: figs
        .filter((f) => f.kind === 'koor')
        .map((f) => {
          const b = f.shared_blocked_ms;
          return [f.label, f.auto_lease, b.task_leases.n, ms(b.task_leases.p50), ms(b.task_leases.max), b.auto_leases.n, ms(b.auto_leases.p50), ms(b.auto_leases.max), ms(b.held_after_last_edit.p50), ms(b.held_after_last_edit.max), n0(b.over_lifetime)];
        }),
    },
    {
      title: 'swarm: goals (Koor arms)',
      columns: ['arm', 'K/K once', '0 conflicts', '0 markers lost', 'killed → checkpoint', 'long command kept its claim', 'wake p99 ≤ 1 s', '≤ 150 tokens/task', '0 in quiet turns', 'no file past lifetime', 'tasks/min ≥ baseline'],
      rows: goals.map((g) => [g.arm, yes(g.all_done_once), yes(g.no_rebase_conflicts), yes(g.no_markers_lost_or_doubled), yes(g.killed_task_finished_from_checkpoint), yes(g.long_command_kept_claim), yes(g.wake_p99_le_1s), yes(g.tokens_per_task_le_150), yes(g.no_tokens_in_quiet_turns), yes(g.no_shared_file_blocked_past_lifetime), yes(g.throughput_ge_baseline)]),
    },
  ];

  tables.push(...teams.tables, ...mixed.tables);
  const notes = figs.length === 0 ? [`timeline: ${path.relative(REPO_ROOT, svgFile)}`] : [
    `timeline: ${path.relative(REPO_ROOT, svgFile)}`,
    'done once: completed by one agent, its work pushed once, its marker exactly once in each of its files on the origin. Baseline claims are commits of tasks.json pushed before the work (a rejected push is pulled and pushed again; a rebase conflict is counted and the agent starts over from the origin).',
    'killed task: the victim is SIGKILLed after editing its first task\'s files, before committing them (they never reach the origin). With Koor the task goes back to ready when the victim goes stale (--liveness-timeout ' + LIVENESS_TIMEOUT + '); the agent that claims it next gets the checkpoint, checks which files already hold the marker on the origin and edits the rest ("redid n/m"). Without Koor the task stays claimed in tasks.json.',
    `long command: the tester (first session, in both arms) runs its test suite before its first push — one Bash call of ${TEST_RUN_S} s, past the liveness timeout, no hook meanwhile. With Koor its PreToolUse hook holds the agent busy for the command's timeout, so it keeps its claim and its leases ("kept": nobody else claimed the task, it marked it done itself); an agent that goes stale anyway is told at its next hook which claims and leases Koor released.`,
    'wake: from the POST of a task in the idle session\'s project to the woken request reaching the fake API (Stop hook `koor-cli wait --hook`, asyncRewake, stream-json input held open); in brackets Koor\'s part of the slowest: until the waiter exited 2, and the round trip of the new turn\'s UserPromptSubmit hook (timed at a pass-through in front of the idle session\'s HTTP hooks); the rest is the client starting its turn (wake_split in the JSON has each part). The baseline has no way to wake a session.',
    'quiet turns: agent requests with nothing new for their session since the hook before its previous request (no task of its project became ready or was released, no lease by another agent on a file it edited, no agent joined, no checkpointed task claimed; from the poller, every ' + POLL_MS + ' ms, and the agents\' records); Koor text in them is a goal failure.',
    'last done s / tasks/min: time from the sessions\' start to the last completion, and the tasks done once per minute over it. sessions end s includes the wind-down (a baseline agent polls an unchanged tasks.json for ' + (quick ? 10 : 20) + ' s before it gives up).',
    'same work: tasks/min of each arm over its first M tasks done once, M the smaller count of the two arms (the baseline never finishes the killed agent\'s task nor the late ones, so to-the-last-completion rates would charge Koor the liveness timeout for work the baseline leaves undone); the throughput goal is judged on it.',
  ];
  for (const f of figs) if (f.duplicates.length > 0) notes.push(`${f.label}: duplicates ${f.duplicates.join('; ')}`);
  for (const f of figs) if (f.not_done.length > 0) notes.push(`${f.label}: not done ${f.not_done.join(', ')}${f.failed.length > 0 ? ` (parked as failed after their last attempt: ${f.failed.join(', ')})` : ''}`);
  notes.push(...teams.notes, ...mixed.notes);
  const allGoals: Array<Record<string, unknown> & { arm: string }> = [...goals, ...teams.goals, ...mixed.goals];
  const failed = allGoals.filter((g) => Object.entries(g).some(([k, v]) => k !== 'arm' && v === false));
  // Invalid (exit 1): work lost or done twice under Koor. A goal missed is a warning, or a
  // failure too with KOOR_BENCH_SWARM_ASSERT=1 (CI's quick run: the goals asserted).
  const valid = [...figs, ...teams.figures, ...mixed.figures].every((f) => f.kind === 'baseline' || (f.duplicates.length === 0 && f.markers.lost.length === 0 && f.markers.doubled.length === 0 && f.markers.conflict_markers_in.length === 0));
  const assertGoals = env.KOOR_BENCH_SWARM_ASSERT === '1';
  // Asserted: some goal was measured (an arm wanted and skipped — no PostgreSQL for the cluster — is a warning).
  const ok = valid && (!assertGoals || (failed.length === 0 && allGoals.length > 0));
  if (failed.length > 0) warnings.push(`goals not met: ${failed.map((g) => `${g.arm}: ${Object.entries(g).filter(([k, v]) => k !== 'arm' && v === false).map(([k]) => k).join(', ')}`).join('; ')}`);

  return {
    ok,
    config: { sessions, tasks: tasks.length, main_tasks: mainTasks, late_tasks: lateTasks, client: CLAUDE_CODE_VERSION, features: feats, lifetimes_ms: lifetimes, liveness_timeout: LIVENESS_TIMEOUT, budget_ms: budgetMs, think_ms: thinkMs, backlog: tasks },
    arms: figs,
    goals,
    same_work: Object.fromEntries(figs.filter((f) => f.kind === 'koor').map((f) => [f.label, sameWork(f)])),
    teams: teams.json,
    timeline_svg: path.relative(REPO_ROOT, svgFile),
    records: Object.fromEntries([...arms, ...teamRuns.flatMap((r) => [r.together, r.alone]), ...[mixedRun, mixedBaseline, mixedSame].flatMap((r) => (r ? [r.arm] : []))].map((a) => [a.spec.label, a.records.map((r) => ({ ...r, t: Math.round(r.at - a.t0) }))])),
    tables,
    notes,
    warnings,
  };
}
