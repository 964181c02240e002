/**
 * The swarm bench's figures, from what one arm gathered: tasks done exactly once,
 * duplicates, conflicts, denials, the origin's markers, the killed agent's task, how long shared
 * files stayed leased, claim and wake latencies, the tokens Koor put into each model's context
 * (o200k, read from the requests the fake API received), hook round trips and server CPU per task,
 * and the drain time. The timeline as an SVG is drawn by timeline.ts, the figures of one team among
 * several on a server by team-figures.ts.
 */
import type { StepRecord } from './agent.js';
import type { ArmResult } from './arm-types.js';
import { POLL_MS } from './poller.js';
import { LATE_PROJECT, MAIN_PROJECT, SHARED_FILES, type SwarmTask } from './backlog.js';

/** An expired lease may be seen for a poll or two more, and is swept on the server's timer: the tolerance of "past its lifetime". */
const EXPIRY_SLACK_MS = 1500 + 2 * POLL_MS;

/** Nearest-rank percentile of `xs` (null when empty). */
export function pct(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const summary = (xs: readonly number[]) => ({ n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), max: xs.length ? Math.max(...xs) : null });

// ---------------------------------------------------------------------------------------------
// What Koor put into the model's context

/**
 * One wake-up, split: Koor's waiter (the task's POST → the waiter exits 2), then the client's part
 * (→ the woken request), itself split at Koor's UserPromptSubmit hook: the client until it called
 * the hook, the hook's round trip (Koor's), the client from the answer to its request.
 */
export interface WakeSplit {
  task: string;
  total_ms: number;
  waiter_ms: number | null;
  client_ms: number | null;
  to_hook_ms: number | null;
  hook_ms: number | null;
  after_hook_ms: number | null;
}

// ---------------------------------------------------------------------------------------------
// Per-arm figures

export interface ArmFigures {
  label: string;
  kind: 'koor' | 'baseline';
  backend: string;
  sessions: number;
  tasks: number;
  auto_lease: string;
  /** Tasks done exactly once, with their markers exactly once in the origin. */
  done_once: number;
  done: number;
  not_done: string[];
  /** Koor: tasks parked as failed (released after their last attempt). */
  failed: string[];
  duplicates: string[];
  rebase_conflicts: number;
  conflicts: Array<{ session: string; task?: string; detail?: string }>;
  edits_denied: number;
  /** Edits refused once by "pull first" (the file changed since the clone's last pull), then made after a pull. */
  pull_first: number;
  markers: { exact: number; lost: string[]; doubled: string[]; stray: string[]; conflict_markers_in: string[] };
  killed: {
    session: string;
    task: string;
    /** Finished by another agent. */
    resumed: boolean;
    resumed_by: string | null;
    /** Who claimed it after the kill, in order (a hand-over can be handed over again). */
    hand_overs: string[];
    /** The first claim after the kill carried the victim's checkpoint. */
    from_checkpoint: boolean;
    files: number;
    victim_edited: number;
    files_redone: number | null;
    /** From the kill to the task being ready again (the victim gone stale). */
    back_after_ms: number | null;
  } | null;
  /** The tester's test suite, one Bash call longer than the liveness timeout: did it keep its claim through it? */
  long_command: {
    session: string;
    task: string;
    ran_s: number | null;
    /** Its task stayed its own: nobody else claimed it meanwhile, and it marked it done itself. */
    kept: boolean;
    others_claimed: string[];
  } | null;
  shared_blocked_ms: {
    task_leases: ReturnType<typeof summary>;
    auto_leases: ReturnType<typeof summary>;
    /** How long an auto-lease on a shared file outlived its holder's last edit of it (the idle lifetime at work). */
    held_after_last_edit: ReturnType<typeof summary>;
    /** Auto-leases on shared files that outlived their holder's last edit by more than the lifetime (+ EXPIRY_SLACK_MS). */
    over_lifetime: number | null;
  };
  claim_to_done_ms: ReturnType<typeof summary>;
  ready_to_claim_ms: ReturnType<typeof summary>;
  wake_ms: number[];
  /** Each wake split at the Stop hook's waiter exit: Koor's part (task created → waiter exits 2) and the client's (→ its request). */
  wake_split: WakeSplit[];
  wake_p99_ms: number | null;
  tokens: {
    total: number;
    per_task: number | null;
    per_session: Record<string, number>;
    by_kind: Record<string, number>;
    /** Agent requests with no news for the session in their window (Koor: from the poller). */
    quiet_turns: number;
    quiet_turns_with_koor_text: number;
    tokens_in_quiet_turns: number;
    /** Koor text found in quiet turns (each one a goal failure, or a news the poller could not see). */
    quiet_samples: Array<{ session: string; t: number; kind: string; tokens: number; text: string; window: string; leases?: string[] }>;
    samples: Array<{ session: string; kind: string; tokens: number; text: string }>;
  } | null;
  model_requests: number;
  model_requests_per_task: number | null;
  hook_calls: number | null;
  hook_calls_per_task: number | null;
  server_cpu_ms_per_task: number | null;
  postgres_cpu_ms_per_task: number | null;
  /** Server (and PostgreSQL) cores with only the measuring poller running, subtracted from the per-task CPU. */
  idle_cpu: ArmResult['idleCpu'];
  drain_s: number | null;
  last_done_s: number | null;
  sessions_end_s: number;
  tasks_per_min: number | null;
  /** When each task done once was completed, seconds from the sessions' start, in order. */
  done_times_s: number[];
  warnings: string[];
}

/** Rounded to a tenth. */
export const r1 = (x: number | null): number | null => (x === null ? null : Math.round(x * 10) / 10);

export function figures(a: ArmResult, tasks: readonly SwarmTask[]): ArmFigures {
  const recs = a.records;
  const byTask = (k: string) => recs.filter((r) => r.task === k);
  const project = new Map(tasks.map((t) => [t.key, t.project]));
  const taskOf = new Map(tasks.map((t) => [t.key, t]));

  // Done exactly once: one completion, and its markers exactly once in the origin.
  const dones = new Map<string, StepRecord[]>();
  for (const r of recs) if (r.kind === 'done' && r.task) dones.set(r.task, [...(dones.get(r.task) ?? []), r]);
  const duplicates: string[] = [];
  for (const t of tasks) {
    const d = dones.get(t.key) ?? [];
    // The same file of the same task pushed by more than one push: work done twice.
    const pushes = new Map<string, number>();
    for (const r of byTask(t.key)) if (r.kind === 'pushed') for (const f of r.files ?? []) pushes.set(f, (pushes.get(f) ?? 0) + 1);
    const twice = [...pushes].filter(([, n]) => n > 1).map(([f]) => f);
    if (d.length > 1 || twice.length > 0) duplicates.push(`${t.key}${d.length > 1 ? ` done ${d.length}x (${d.map((x) => x.session).join(', ')})` : ''}${twice.length ? ` pushed twice: ${twice.join(', ')}` : ''}`);
  }
  const exact = new Set(a.audit.exact);
  const done = new Set(a.doneKeys);
  const doneOnce = tasks.filter((t) => done.has(t.key) && exact.has(t.key) && !duplicates.some((d) => d.startsWith(`${t.key} `))).length;

  // The killed agent's task.
  const kill = recs.find((r) => r.kind === 'killed');
  let killed: ArmFigures['killed'] = null;
  if (kill?.task) {
    const after = recs.filter((r) => r.task === kill.task && r.at > kill.at);
    const claims = after.filter((r) => r.kind === 'claim');
    const finisher = after.find((r) => r.kind === 'done');
    const pushedAfter = new Set(after.filter((r) => r.kind === 'pushed').flatMap((r) => r.files ?? []));
    const back = a.tasks.find((p) => p.key === kill.task)?.changes.find((c) => c.status === 'ready' && c.at > kill.at);
    const t = taskOf.get(kill.task)!;
    killed = {
      session: kill.session,
      task: kill.task,
      resumed: finisher !== undefined && finisher.session !== kill.session,
      resumed_by: finisher?.session ?? null,
      hand_overs: claims.map((c) => c.session),
      from_checkpoint: /checkpoint by/.test(claims[0]?.detail ?? ''),
      files: t.files.length,
      victim_edited: kill.files?.length ?? 0,
      // What the victim had edited (never committed) and someone had to edit again.
      files_redone: finisher ? (kill.files ?? []).filter((f) => pushedAfter.has(f)).length : null,
      back_after_ms: back ? back.at - kill.at : null,
    };
  }

  // The tester's long command.
  const testStart = recs.find((r) => r.kind === 'test-run' && r.detail === 'start');
  let longCommand: ArmFigures['long_command'] = null;
  if (testStart?.task) {
    const testEnd = recs.find((r) => r.kind === 'test-run' && r.detail === 'end' && r.session === testStart.session);
    const after = recs.filter((r) => r.task === testStart.task && r.at > testStart.at);
    const othersClaimed = after.filter((r) => r.kind === 'claim' && r.session !== testStart.session).map((r) => r.session);
    const doneBy = after.find((r) => r.kind === 'done');
    longCommand = {
      session: testStart.session,
      task: testStart.task,
      ran_s: testEnd ? Math.round((testEnd.at - testStart.at) / 100) / 10 : null,
      kept: othersClaimed.length === 0 && doneBy?.session === testStart.session && !after.some((r) => r.kind === 'done-failed'),
      others_claimed: othersClaimed,
    };
  }

  // Shared files: how long each lease on one lived (the poller's first and last sight, + one poll).
  const shared = new Set<string>(SHARED_FILES);
  const taskLeases: number[] = [];
  const autoLeases: number[] = [];
  const afterEdit: number[] = [];
  let over = 0;
  for (const l of a.leases) {
    const files = l.resources.filter((r) => shared.has(r));
    if (files.length === 0) continue;
    const span = l.last - l.first + POLL_MS;
    if (/auto-lease/.test(l.reason)) {
      autoLeases.push(span);
      // The idle part: from the holder's last edit of the file while it held the lease to the lease's end.
      const edit = recs
        .filter((r) => r.kind === 'edited' && r.session === l.holder_name && (r.files ?? []).some((f) => files.includes(f)) && r.at >= l.first - 2 * POLL_MS && r.at <= l.last + POLL_MS)
        .at(-1);
      if (edit) {
        const idleMs = Math.max(0, l.last + POLL_MS / 2 - edit.at);
        afterEdit.push(idleMs);
        if (a.spec.autoLeaseMs !== null && idleMs > a.spec.autoLeaseMs + EXPIRY_SLACK_MS) over++;
      }
    } else taskLeases.push(span);
  }

  // Claim → done (the attempt that finished), ready → that claim.
  const claimToDone: number[] = [];
  const readyToClaim: number[] = [];
  const lateAt = new Map(a.late.map((l) => [l.key, l.at]));
  for (const t of tasks) {
    const d = dones.get(t.key)?.[0];
    if (!d) continue;
    const claim = byTask(t.key)
      .filter((r) => r.kind === 'claim' && r.session === d.session && r.at <= d.at)
      .at(-1);
    if (!claim) continue;
    claimToDone.push(d.at - claim.at);
    const candidates = [lateAt.get(t.key) ?? a.t0];
    for (const dep of t.deps) {
      const dd = dones.get(dep)?.[0];
      if (dd) candidates.push(dd.at);
    }
    for (const r of byTask(t.key)) if (r.kind === 'release' && r.at <= claim.at) candidates.push(r.at);
    for (const c of a.tasks.find((p) => p.key === t.key)?.changes ?? []) if (c.status === 'ready' && c.at <= claim.at) candidates.push(c.at - POLL_MS / 2);
    const ready = Math.max(...candidates.filter((x) => x <= claim.at));
    readyToClaim.push(Math.max(0, claim.at - ready));
  }

  // Wake: from a late task's creation to the idle session's woken request.
  const idle = a.sessions.find((s) => s.role === 'idle');
  const wake: number[] = [];
  const wakeSplit: WakeSplit[] = [];
  for (const l of a.late) {
    const w = recs.find((r) => r.kind === 'wake' && r.session === idle?.name && r.at >= l.at);
    if (!w) continue;
    wake.push(w.at - l.at);
    // Koor's part: until the Stop hook's waiter exited 2; the client's: from there to its request.
    const exit = a.waits.find((x) => x.hook && x.code === 2 && x.agent === idle?.name && x.at >= l.at && x.at <= w.at);
    // The client's part, split at Koor's UserPromptSubmit hook (the new turn's first hook call).
    const hook = exit ? a.idleHooks.find((h) => h.event === 'UserPromptSubmit' && h.in >= exit.at && h.out <= w.at) : undefined;
    wakeSplit.push({
      task: l.key,
      total_ms: w.at - l.at,
      waiter_ms: exit ? exit.at - l.at : null,
      client_ms: exit ? w.at - exit.at : null,
      to_hook_ms: exit && hook ? hook.in - exit.at : null,
      hook_ms: hook ? hook.out - hook.in : null,
      after_hook_ms: hook ? w.at - hook.out : null,
    });
  }

  // Tokens Koor injected (Koor arms).
  let tok: ArmFigures['tokens'] = null;
  if (a.spec.kind === 'koor') {
    const perSession: Record<string, number> = {};
    const byKind: Record<string, number> = {};
    const samples: Array<{ session: string; kind: string; tokens: number; text: string }> = [];
    let quietTurns = 0;
    let quietWith = 0;
    let quietTokens = 0;
    const quietSamples: Array<{ session: string; t: number; kind: string; tokens: number; text: string; window: string; leases?: string[] }> = [];
    for (const s of a.sessions) {
      const reqs = s.api.agentRequests();
      const items = s.seen.injected;
      perSession[s.name] = items.reduce((n, x) => n + x.tokens, 0);
      for (const x of items) {
        byKind[x.kind] = (byKind[x.kind] ?? 0) + x.tokens;
        if (samples.filter((y) => y.kind === x.kind).length < 2) samples.push({ session: s.name, kind: x.kind, tokens: x.tokens, text: x.text.slice(0, 400) });
      }
      // Quiet turns: nothing new for this session since its previous digest could have said it.
      const myProject = s.role === 'idle' ? LATE_PROJECT : MAIN_PROJECT;
      const edited: Array<{ file: string; at: number }> = [];
      for (let k = 1; k < reqs.length; k++) {
        // The previous digest came from a hook between the request before last and the last one.
        const from = (k >= 2 ? reqs[k - 2]!.at : s.startedAt) - 500;
        const to = reqs[k]!.at + 300;
        for (const file of s.seen.edits[k] ?? []) edited.push({ file, at: reqs[k - 1]!.at });
        const news =
          a.tasks.some((p) => project.get(p.key) === myProject && p.changes.some((c) => c.status === 'ready' && c.at > from && c.at <= to)) ||
          a.leases.some((l) => l.holder_name !== s.name && l.first > from && l.first <= to && edited.some((e) => e.at < l.first && l.resources.includes(e.file))) ||
          a.joins.some((j) => j.name !== s.name && j.at > from && j.at <= to) ||
          // A file it was refused came free (the digest says "Free again"): a lease by another on it ended after the refusal.
          a.records.some(
            (d) =>
              d.session === s.name &&
              d.kind === 'denied' &&
              d.at <= to &&
              (d.files ?? []).some((f) => a.leases.some((l) => l.holder_name !== s.name && l.resources.includes(f) && l.last + POLL_MS > Math.max(d.at, from) && l.last <= to)),
          ) ||
          // It claimed a task someone checkpointed: its digest says to resume.
          a.records.some((r) => r.session === s.name && r.kind === 'claim' && /checkpoint by/.test(r.detail ?? '') && r.at > from && r.at <= to) ||
          // A task of its project went back to ready (released, or its claimer gone stale) — maybe too briefly for the poller to see.
          a.records.some((r) => project.get(r.task ?? '') === myProject && (r.kind === 'release' || (r.kind === 'claim' && !/^attempt 1\b/.test(r.detail ?? ''))) && r.at > from && r.at <= to + 500);
        if (news) continue;
        quietTurns++;
        const here = items.filter((x) => x.request === k && (x.kind === 'digest' || x.kind === 'prompt' || x.kind === 'stop'));
        if (here.length > 0) {
          quietWith++;
          quietTokens += here.reduce((n, x) => n + x.tokens, 0);
          // With the window judged and the leases of the files it was refused (to tell a missed news from a real leak).
          const rel = (t: number): number => Math.round(t - a.t0);
          const refused = new Set(a.records.filter((d) => d.session === s.name && d.kind === 'denied').flatMap((d) => d.files ?? []));
          const spans = a.leases.filter((l) => l.resources.some((f) => refused.has(f))).map((l) => `${l.holder_name} ${l.resources.join(',')} ${rel(l.first)}-${rel(l.last)}`);
          for (const x of here) if (quietSamples.length < 8) quietSamples.push({ session: s.name, t: rel(x.at), kind: x.kind, tokens: x.tokens, text: x.text.slice(0, 300), window: `${rel(from)}-${rel(to)}`, ...(spans.length > 0 ? { leases: spans } : {}) });
        }
      }
    }
    const total = Object.values(perSession).reduce((n, x) => n + x, 0);
    tok = { total, per_task: done.size > 0 ? r1(total / done.size) : null, per_session: perSession, by_kind: byKind, quiet_turns: quietTurns, quiet_turns_with_koor_text: quietWith, tokens_in_quiet_turns: quietTokens, quiet_samples: quietSamples, samples };
  }

  const requests = a.sessions.reduce((n, s) => n + s.api.agentRequests().length, 0);
  const hookCalls = a.hookCalls ? Object.values(a.hookCalls).reduce((n, x) => n + x, 0) : null;
  const lastDone = recs.filter((r) => r.kind === 'done').reduce((m, r) => Math.max(m, r.at), 0);
  const lastDoneS = lastDone > 0 ? (lastDone - a.t0) / 1000 : null;
  const drainS = a.drainedAt !== null ? (a.drainedAt - a.t0) / 1000 : null;
  const over_lifetime = a.spec.autoLeaseMs === null ? null : over;
  return {
    label: a.spec.label,
    kind: a.spec.kind,
    backend: a.spec.backend,
    sessions: a.spec.sessions,
    tasks: tasks.length,
    auto_lease: a.spec.kind === 'baseline' ? '-' : a.spec.autoLeaseMs === null ? 'session' : `${a.spec.autoLeaseMs / 1000}s`,
    done_once: doneOnce,
    done: done.size,
    not_done: tasks.filter((t) => !done.has(t.key)).map((t) => t.key),
    failed: a.final.filter((t) => t.status === 'failed').map((t) => t.key),
    duplicates,
    rebase_conflicts: recs.filter((r) => r.kind === 'conflict').length,
    conflicts: recs.filter((r) => r.kind === 'conflict').map((r) => ({ session: r.session, task: r.task, detail: r.detail?.slice(0, 160) })),
    edits_denied: recs.filter((r) => r.kind === 'denied').length,
    pull_first: recs.filter((r) => r.kind === 'pull-first').length,
    markers: { exact: a.audit.exact.length, lost: a.audit.lost, doubled: a.audit.doubled, stray: a.audit.stray, conflict_markers_in: a.audit.conflictMarkersIn },
    killed,
    long_command: longCommand,
    shared_blocked_ms: { task_leases: summary(taskLeases), auto_leases: summary(autoLeases), held_after_last_edit: summary(afterEdit), over_lifetime },
    claim_to_done_ms: summary(claimToDone),
    ready_to_claim_ms: summary(readyToClaim),
    wake_ms: wake,
    wake_split: wakeSplit,
    wake_p99_ms: pct(wake, 99),
    tokens: tok,
    model_requests: requests,
    model_requests_per_task: done.size > 0 ? r1(requests / done.size) : null,
    hook_calls: hookCalls,
    hook_calls_per_task: hookCalls !== null && done.size > 0 ? r1(hookCalls / done.size) : null,
    server_cpu_ms_per_task: a.serverCpuS !== null && done.size > 0 ? r1((a.serverCpuS * 1000) / done.size) : null,
    postgres_cpu_ms_per_task: a.postgresCpuS !== null && done.size > 0 ? r1((a.postgresCpuS * 1000) / done.size) : null,
    idle_cpu: a.idleCpu,
    drain_s: r1(drainS),
    last_done_s: r1(lastDoneS),
    sessions_end_s: r1((a.endedAt - a.t0) / 1000)!,
    // Tasks finished correctly per minute, over the time to the last completion.
    tasks_per_min: lastDoneS !== null && lastDoneS > 0 ? r1((doneOnce / lastDoneS) * 60) : null,
    done_times_s: tasks
      .filter((t) => done.has(t.key) && exact.has(t.key) && !duplicates.some((d) => d.startsWith(`${t.key} `)))
      .map((t) => dones.get(t.key)?.[0]?.at)
      .filter((x): x is number => x !== undefined)
      .map((x) => Math.round(x - a.t0) / 1000)
      .sort((x, y) => x - y),
    warnings: a.warnings,
  };
}
