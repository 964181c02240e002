/**
 * Several teams on one server: one team's part of an arm (to give its figures as if it were an arm
 * of its own), what it met of the other repositories, and its pace.
 */
import type { ArmResult, TeamResult } from './arm-types.js';
import { r1, type ArmFigures } from './report.js';

/**
 * One team's part of an arm: its sessions, records, tasks, leases (of its project), agents and
 * origin — what figures() needs to give the team's figures as if it were an arm of its own. The
 * server's CPU is the arm's, not the team's: left out.
 */
export function teamView(a: ArmResult, team: TeamResult): ArmResult {
  const names = new Set(team.sessions);
  const keys = new Set(team.keys);
  const sessions = a.sessions.filter((s) => names.has(s.name));
  return {
    ...a,
    spec: { ...a.spec, label: `${a.spec.label}: ${team.name}`, sessions: sessions.length },
    drainedAt: null,
    endedAt: Math.max(a.t0, ...sessions.map((s) => s.endedAt)),
    records: a.records.filter((r) => names.has(r.session)),
    sessions,
    late: a.late.filter((l) => keys.has(l.key)),
    leases: a.leases.filter((l) => l.project === team.project),
    tasks: a.tasks.filter((t) => keys.has(t.key)),
    joins: a.joins.filter((j) => names.has(j.name)),
    final: a.final.filter((f) => keys.has(f.key)),
    audit: team.audit,
    teams: [team],
    denials: a.denials.filter((d) => names.has(d.actor)),
    doneKeys: a.doneKeys.filter((k) => keys.has(k)),
    serverCpuS: null,
    postgresCpuS: null,
    hookCalls: null,
    waits: a.waits.filter((w) => names.has(w.agent)),
    idleHooks: a.idleHooks.filter((h) => names.has(h.agent)),
    hooks: a.hooks.filter((h) => names.has(h.agent)),
  };
}

/** Who holds the file a refusal names: `leased by agent <name>` (the edit guard), `<name> held it and let it go` (pull first); null when it names none. */
export function refusedBy(text: string): string | null {
  return /leased by agent (\S+?)[\s,.]/.exec(text)?.[1] ?? /: (\S+) held it and let it go/.exec(text)?.[1] ?? null;
}

/**
 * What one team met of the other repositories on its server, read from what the client sent its
 * fake model (the hooks' refusals and context, the tools' results) and from the server's audit.
 * `own`: the same caused by its own repository, which shows the counting sees what it counts.
 */
export interface CrossRepo {
  /** Edits the hooks refused (the edit guard or pull-first, as the model was told): the holder of its own team, of another (or named nowhere). */
  denied_own: number;
  denied_other: number;
  /** Claims refused with every ready task blocked (`no task ready in p: n ready tasks, all blocked: f held by x`): by its own team's holders, by another's. */
  withheld_own: number;
  withheld_other: number;
  /** Koor's context (digests, orientation, prompt, Stop and wake text) naming another repository's agents, project or files. */
  digests_naming_other: number;
  /** Other text the client sent back (tools' results: claims, lease commands, task lists) naming another repository. */
  results_naming_other: number;
  /** The server's audit: this team's refused edits (lease.denied), and those whose holder or lease is of another project than the refused agent's. */
  audit_denied: number;
  audit_denied_other: number;
  /** Up to 6 of the above that concern another repository, to read. */
  samples: string[];
}

export function crossRepo(view: ArmResult, team: TeamResult): CrossRepo {
  const names = new Set(team.sessions);
  const out: CrossRepo = { denied_own: 0, denied_other: 0, withheld_own: 0, withheld_other: 0, digests_naming_other: 0, results_naming_other: 0, audit_denied: 0, audit_denied_other: 0, samples: [] };
  const sample = (s: string) => {
    if (out.samples.length < 6) out.samples.push(s.replace(/\s+/g, ' ').slice(0, 300));
  };
  for (const s of view.sessions) {
    for (const x of s.seen.injected) {
      if (x.kind !== 'deny') continue;
      const holder = refusedBy(x.text);
      const foreign = s.seen.watch !== null && new RegExp(s.seen.watch.source).test(x.text);
      if (holder !== null && names.has(holder) && !foreign) out.denied_own++;
      else {
        out.denied_other++;
        sample(`${s.name} refused: ${x.text}`);
      }
    }
    for (const w of s.seen.withheld) {
      if (names.has(w.holder) && w.project === team.project) out.withheld_own++;
      else {
        out.withheld_other++;
        sample(`${s.name}'s claim withheld in ${w.project}: ${w.path} held by ${w.holder}`);
      }
    }
    for (const m of s.seen.mentions) {
      if (m.where === 'deny') continue;
      if (m.where === 'claim' || m.where === 'tool result' || m.where === 'other') out.results_naming_other++;
      else out.digests_naming_other++;
      sample(`${s.name} (${m.where}) named ${m.match}: …${m.excerpt}…`);
    }
  }
  for (const d of view.denials) {
    out.audit_denied++;
    // The refused session's project (the entry's own, else the agent's registration) against the holder's registration and the lease's.
    const mine = d.project ?? d.actor_project;
    const other = mine === null || mine !== team.project || d.holder_project !== mine || (d.lease_project !== null && d.lease_project !== mine) || !names.has(d.holder);
    if (other) {
      out.audit_denied_other++;
      sample(`audit: ${d.actor} (${mine ?? '?'}) refused ${d.path}, held by ${d.holder} (${d.holder_project ?? '?'}; lease in ${d.lease_project ?? '?'})`);
    }
  }
  return out;
}

/**
 * A team's pace: tasks done once per minute from its first model request (its clients up: a
 * client's start is the box's CPU, not the server's) to its last completion; and over the wall,
 * from the arm's start.
 */
export function teamPace(view: ArmResult, f: ArmFigures): { work_s: number | null; per_min: number | null; wall_per_min: number | null } {
  const first = Math.min(...view.sessions.map((s) => s.api.agentRequests()[0]?.at ?? Infinity));
  const last = view.records.filter((r) => r.kind === 'done').reduce((m, r) => Math.max(m, r.at), 0);
  if (!Number.isFinite(first) || last <= first || f.done_once === 0) return { work_s: null, per_min: null, wall_per_min: f.tasks_per_min };
  const s = (last - first) / 1000;
  return { work_s: r1(s), per_min: r1((f.done_once / s) * 60), wall_per_min: f.tasks_per_min };
}
