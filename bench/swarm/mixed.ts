/**
 * The swarm's mixed team: one repository, one backlog, its sessions each one of the five clients
 * Koor proves with their real binaries (Claude Code, Codex, Gemini CLI, Copilot CLI, OpenCode) in
 * turn, each with the hooks `koor-cli init --<client>` writes and the same scripted agent
 * (bench/swarm/wires.ts plays it through each client's tools), on one server (SQLite).
 *
 * Goals, same run: every task done exactly once, 0 rebase conflicts, 0 markers lost or doubled (as
 * the swarm counts them for a Claude Code team), every client's sessions doing part of the work,
 * every refused edit obeyed, ≤ 150 Koor tokens per task for each client, and tasks per minute at
 * least the same mix's without Koor (tasks.json); the report counts per client what its sessions
 * did and were refused.
 */
import type { BenchTable } from '../lib/suite.js';
import { runArm } from './arm.js';
import type { ArmResult, ArmSpec, TeamSpec } from './arm-types.js';
import { makeBacklog, MAIN_PROJECT, type SwarmTask } from './backlog.js';
import { figures, type ArmFigures } from './report.js';
import { SWARM_CLIENTS, type SwarmClient } from './wires.js';

export interface MixedOptions {
  quick: boolean;
  /** With Koor, or the same mix without it (the baseline: tasks.json in the repository). */
  kind: 'koor' | 'baseline';
  /** The clients, in turn (default: all five). */
  clients: readonly SwarmClient[];
  sessions: number;
  tasks: number;
  base: Omit<ArmSpec, 'kind' | 'label' | 'backend' | 'sessions' | 'tasks' | 'teams'>;
  label: string;
}

export interface MixedRun {
  arm: ArmResult;
  tasks: SwarmTask[];
  clients: SwarmClient[];
}

/** The team: sessions `mix-01-claude-code` …, their clients in turn, a backlog of its own (keys M01 …). */
function mixedTeam(n: number, k: number, features: { paths: boolean }, which: readonly SwarmClient[] = SWARM_CLIENTS): TeamSpec {
  const tasks = makeBacklog({ main: k, late: 0, sharedShare: 0.25, depsShare: 0.15, pathsShare: features.paths ? 0.7 : 0, seed: 44, prefix: 'M' });
  const clients: SwarmClient[] = Array.from({ length: n }, (_, i) => which[i % which.length]!);
  return { name: MAIN_PROJECT, owner: 'mixed', sessions: clients.map((c, i) => `mix-${String(i + 1).padStart(2, '0')}-${c}`), tasks, roles: false, clients };
}

export async function runMixed(o: MixedOptions): Promise<MixedRun> {
  const team = mixedTeam(o.sessions, o.tasks, o.base.features, o.clients);
  const arm = await runArm({ ...o.base, kind: o.kind, label: o.label, backend: o.kind === 'koor' ? 'sqlite' : 'none', sessions: o.sessions, tasks: team.tasks, teams: [team] });
  return { arm, tasks: team.tasks, clients: team.clients! };
}

interface ClientRow {
  client: SwarmClient;
  sessions: number;
  /** Tasks its sessions completed (`koor-cli task done` answered 0). */
  done: number;
  /** Files its edits wrote, refused edits (a file another agent held), edits asked to pull first. */
  edited: number;
  refused: number;
  pull_first: number;
  /** Model requests its sessions made, and the first one's delay after the session started (the client's start-up), ms. */
  requests: number;
  start_ms: number | null;
  /** Refused files whose task the session gave back (it did not edit them anyway). */
  obeyed: number;
  /**
   * Koor's text its sessions' models were sent (o200k), per task of its share of the backlog (K ×
   * its sessions / N): a client that started late and found little left is not charged its
   * sessions' orientation against the one task it did. And per task it completed, as it came out.
   */
  tokens_per_task: number | null;
  tokens_per_done_task: number | null;
}

function clientRows(run: MixedRun): ClientRow[] {
  const used = [...new Set(run.clients)];
  const n = run.arm.sessions.length;
  return used.map((client) => {
    const sessions = run.arm.sessions.filter((s) => s.client === client);
    const names = new Set(sessions.map((s) => s.name));
    const recs = run.arm.records.filter((r) => names.has(r.session));
    const count = (kind: string) => recs.filter((r) => r.kind === kind).length;
    const firsts = sessions.map((s) => (s.api.requests[0]?.at ?? 0) - s.startedAt).filter((ms) => ms > 0);
    return {
      client,
      sessions: sessions.length,
      done: count('done'),
      edited: recs.filter((r) => r.kind === 'edited').reduce((a, r) => a + (r.files?.length ?? 0), 0),
      refused: recs.filter((r) => r.kind === 'denied').reduce((a, r) => a + (r.files?.length ?? 0), 0),
      pull_first: count('pull-first'),
      requests: sessions.reduce((a, s) => a + s.api.requests.length, 0),
      start_ms: firsts.length === 0 ? null : Math.max(...firsts),
      obeyed: recs.filter((r) => r.kind === 'denied' && recs.some((x) => x.kind === 'release' && x.session === r.session && x.task === r.task && x.at >= r.at)).reduce((a, r) => a + (r.files?.length ?? 0), 0),
      tokens_per_task: n === 0 ? null : Math.round(sessions.reduce((a, s) => a + s.koor.tokens, 0) / ((run.tasks.length * sessions.length) / n)),
      tokens_per_done_task: count('done') === 0 ? null : Math.round(sessions.reduce((a, s) => a + s.koor.tokens, 0) / count('done')),
    };
  });
}

const yes = (ok: boolean): string => (ok ? 'yes' : 'NO');

/**
 * The mixed team's tables, goals and notes. `baseline`: the same mix without Koor (tasks.json),
 * whose pace over the same work the throughput goal compares with; `same` (the full run): as many
 * Claude Code sessions with Koor on the same backlog, for the pace of a team of one client.
 */
export function mixedReport(run: MixedRun | null, baseline: MixedRun | null, same: MixedRun | null = null): { tables: BenchTable[]; goals: Array<Record<string, unknown> & { arm: string }>; notes: string[]; figures: ArmFigures[]; json: unknown } {
  if (run === null) return { tables: [], goals: [], notes: [], figures: [], json: null };
  const f = figures(run.arm, run.tasks);
  const b = baseline === null ? null : figures(baseline.arm, baseline.tasks);
  const g = same === null ? null : figures(same.arm, same.tasks);
  // The same work: tasks/min of each over the first M tasks done once, M the smaller count.
  const m = b === null ? 0 : Math.min(f.done_times_s.length, b.done_times_s.length);
  const sameWork = b === null || m === 0 ? null : { tasks: m, koor_per_min: Math.round((m / f.done_times_s[m - 1]!) * 600) / 10, baseline_per_min: Math.round((m / b.done_times_s[m - 1]!) * 600) / 10 };
  const ratio = g?.tasks_per_min && f.tasks_per_min ? Math.round((f.tasks_per_min / g.tasks_per_min) * 100) / 100 : null;
  const rows = clientRows(run);
  const goals = {
    arm: f.label,
    all_done_once: f.done_once === f.tasks,
    no_rebase_conflicts: f.rebase_conflicts === 0,
    no_markers_lost_or_doubled: f.markers.lost.length === 0 && f.markers.doubled.length === 0,
    every_client_did_work: rows.every((r) => r.done > 0),
    every_refusal_obeyed: rows.every((r) => r.obeyed === r.refused),
    tokens_per_task_le_150_each_client: rows.every((r) => r.tokens_per_task === null || r.tokens_per_task <= 150),
    throughput_ge_baseline: sameWork === null ? null : sameWork.koor_per_min >= sameWork.baseline_per_min,
  };
  const tables: BenchTable[] = [
    {
      title: `swarm, mixed team: ${f.sessions} sessions of ${rows.length} clients in turn, ${f.tasks} tasks in one repository, one server (SQLite); the same scripted agent through each client's own tools and hooks`,
      columns: ['client', 'sessions', 'tasks done', 'files edited', 'edits refused (obeyed)', 'pull first', 'Koor tokens/task (per task done)', 'model requests', 'start-up ms (slowest)'],
      rows: rows.map((r) => [r.client, r.sessions, r.done, r.edited, `${r.refused} (${r.obeyed})`, r.pull_first, `${r.tokens_per_task ?? '-'} (${r.tokens_per_done_task ?? '-'})`, r.requests, r.start_ms ?? '-']),
    },
    {
      title: 'swarm, mixed team: goals',
      columns: ['arm', 'K/K once', '0 conflicts', '0 markers lost', 'every client did work', 'refusals obeyed', '≤ 150 tokens/task each', 'same work: tasks/min', 'tasks/min', 'last done s'],
      rows: [
        [f.label, `${yes(goals.all_done_once)} (${f.done_once}/${f.tasks})`, `${yes(goals.no_rebase_conflicts)} (${f.rebase_conflicts})`, yes(goals.no_markers_lost_or_doubled), yes(goals.every_client_did_work), yes(goals.every_refusal_obeyed), yes(goals.tokens_per_task_le_150_each_client), sameWork === null ? '-' : `${yes(goals.throughput_ge_baseline!)}: ${sameWork.koor_per_min} vs ${sameWork.baseline_per_min} (first ${sameWork.tasks})`, f.tasks_per_min ?? '-', f.last_done_s ?? '-'],
        ...(b === null ? [] : [[`${b.label} (the same mix without Koor)`, `${b.done_once}/${b.tasks}`, String(b.rebase_conflicts), `${b.markers.lost.length}/${b.markers.doubled.length}`, '-', '-', '-', '-', b.tasks_per_min ?? '-', b.last_done_s ?? '-']]),
        ...(g === null ? [] : [[`${g.label} (the same, Claude Code only)`, `${g.done_once}/${g.tasks}`, String(g.rebase_conflicts), `${g.markers.lost.length}/${g.markers.doubled.length}`, '-', '-', '-', '-', g.tasks_per_min ?? '-', g.last_done_s ?? '-']]),
      ],
    },
  ];
  const notes = [
    ...(ratio === null ? [] : [`mixed team: ${f.tasks_per_min} tasks/min against ${g!.tasks_per_min} for as many Claude Code sessions on the same backlog, same run: ${ratio}x.`]),
    'mixed team: each session runs its client\'s pinned release offline against a fake model API in the client\'s own protocol; the scripted agent\'s Bash, Write and Edit become the client\'s shell and edit tools (bench/swarm/wires.ts); its hooks are those `koor-cli init --<client>` writes (Codex trusted with --trust in the session\'s HOME). Edits refused: a hook refused the edit of a file another agent held, and the agent gave the task back.',
  ];
  if (f.not_done.length > 0) notes.push(`${f.label}: not done ${f.not_done.join(', ')}`);
  if (f.duplicates.length > 0) notes.push(`${f.label}: duplicates ${f.duplicates.join('; ')}`);
  for (const w of f.warnings) notes.push(`${f.label}: ${w}`);
  return { tables, goals: [goals], notes, figures: [f, ...(b ? [b] : []), ...(g ? [g] : [])], json: { goals, clients: rows, same_work: sameWork, pace_vs_claude_code_only: ratio, figures: f, baseline: b, claude_code_only: g } };
}
