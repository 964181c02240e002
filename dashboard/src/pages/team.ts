/**
 * The team page: a live timeline with one row per agent — its claims as bars from
 * claim to completion, release or failure, the edits the hook guard refused and the idle
 * sessions woken as marks — and the backlog's progress (counts per status, tasks created, done
 * and failed over time), for one project or all. Failed tasks show their attempts and, where the
 * server keeps them, their checkpoints.
 *
 * Built from the event log (GET /api/events/history once, then the page's event subscription)
 * and GET /api/tasks (read again after task events). The picture is drawn as SVG: rows of bars on
 * a time axis are not what a plot library is for, and it costs the bundle nothing.
 */
import { useEffect, useState } from 'preact/hooks';
import { COORD_LIST_MAX_LIMIT } from '../../../src/shared/limits-features.js';
import { projectOf } from '../../../src/shared/workspace.js';
import { getJson, query, seg } from '../api.js';
import { projectNames, taskProjects } from '../projects.js';
import { markProject, timeOf, type Mark } from '../team.js';
import { ErrorNote, fmtInt, html, Status, TableWrap, useLoad, useOnEvents, useVisibleInterval } from '../ui.js';
import { clock, MIN_AXIS_MS } from './team-axis.js';
import { Backlog, TEAM_MAX_TASKS } from './team-backlog.js';
import { useTeamModel, useWhereabouts } from './team-data.js';
import { FailedTask } from './team-failed.js';
import { Legend, OUTCOME_LABEL, OUTCOMES, Timeline, type Row } from './team-timeline.js';

/** Agent rows drawn at most (the most recently active first); the rest are counted. */
const TEAM_MAX_ROWS = 60;
/** Failed tasks listed at most, the newest first. */
const FAILED_SHOWN = 50;
/** Claims in the table under the timeline. */
const CLAIM_ROWS = 25;
/** Denials and wake-ups in the list under the timeline. */
const MARK_ROWS = 20;

const SPANS = [
  { key: 'all', label: 'Everything kept', ms: 0 },
  { key: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { key: '1h', label: 'Last hour', ms: 3_600_000 },
  { key: '6h', label: 'Last 6 hours', ms: 6 * 3_600_000 },
  { key: '24h', label: 'Last 24 hours', ms: 86_400_000 },
] as const;
type SpanKey = (typeof SPANS)[number]['key'];

export function TeamPage({ project }: { project: string }) {
  // Its version changing re-renders the page (the model itself is mutated in place).
  const { model, loading, error } = useTeamModel();
  // Tagged with its project: the previous project's tasks are not shown as this one's while it loads.
  const tasks = useLoad(() => getJson<'GET /api/tasks'>(`/api/tasks${query({ project, limit: TEAM_MAX_TASKS })}`).then((list) => ({ project, list })), [project]);
  const taskList = tasks.data?.project === project ? tasks.data.list : null;
  const projects = useLoad(taskProjects, []);
  const roster = useLoad(() => getJson<'GET /api/instances'>('/api/instances'), []);
  // Every project's live leases: the project an edit refused is in, and the projects they name.
  const leases = useLoad(() => getJson<'GET /api/leases'>(`/api/leases${query({ limit: COORD_LIST_MAX_LIMIT })}`), []);
  const where = useWhereabouts(roster.data, leases.data);
  const [span, setSpan] = useState<SpanKey>('all');
  const [tick, setTick] = useState(Date.now());
  useOnEvents('task.*', () => tasks.reload(), 1000);
  useOnEvents('task.created', () => projects.reload(), 1000);
  useOnEvents('agent.*', () => roster.reload(), 1000);
  useOnEvents('lease.*', () => leases.reload(), 1000);
  // Open bars grow, and a relative span moves on.
  useVisibleInterval(() => setTick(Date.now()), 1000);
  // Claims older than the events read show from the task list (once the history is in: it would otherwise open them twice).
  useEffect(() => {
    if (!loading && tasks.data && model.reconcile(tasks.data.list)) setTick(Date.now());
  }, [tasks.data, model, loading]);

  const now = Math.max(tick, Date.now(), model.newest);
  const list = taskList ?? [];
  const mine = (p: string | null) => project === '' || p === project;
  const agents = roster.data ?? [];
  const rosterNames = new Map(agents.filter((a) => a.name !== '').map((a) => [a.id, a.name]));
  const name = (id: string) => rosterNames.get(id) ?? model.names.get(id) ?? id.slice(0, 8);

  // What the span shows: from its start (or the oldest item) to now.
  const spec = SPANS.find((s) => s.key === span)!;
  const claims = model.claims.filter((c) => mine(c.project));
  const working = new Set(claims.map((c) => c.agent));
  const members = new Set(agents.filter((a) => a.status !== 'stale' && (project === '' || projectOf(a.workspace) === project)).map((a) => a.id));
  // A mark is drawn in its project's view (a denial's: its lease's or its agent's); one whose project is
  // not known, in the view of a project its agent works on.
  const placed = (m: Mark) => markProject(m, where.agent, where.lease);
  const marks = model.marks.filter((m) => {
    if (project === '') return true;
    const p = placed(m);
    return p !== '' ? p === project : working.has(m.agent) || members.has(m.agent);
  });
  let from = now - spec.ms;
  if (spec.ms === 0) {
    const firsts = [...claims.map((c) => c.start ?? c.end ?? now), ...marks.map((m) => m.at)];
    const oldest = firsts.length === 0 ? now : Math.min(...firsts);
    from = Math.min(oldest, now - MIN_AXIS_MS);
    from -= (now - from) * 0.02;
  }
  const to = now + (now - from) * 0.02;
  const inSpan = (s: number | null, e: number | null) => (e ?? now) >= from && (s ?? from) <= to;
  const shownClaims = claims.filter((c) => inSpan(c.start, c.end));
  const shownMarks = marks.filter((m) => m.at >= from && m.at <= to);

  // One row per agent: those with something in the span, and the project's agents that are not stale.
  const byAgent = new Map<string, Row & { last: number }>();
  const row = (agent: string) => {
    let r = byAgent.get(agent);
    if (!r) byAgent.set(agent, (r = { agent, name: name(agent), claims: [], marks: [], last: 0 }));
    return r;
  };
  for (const c of shownClaims) {
    const r = row(c.agent);
    r.claims.push(c);
    r.last = Math.max(r.last, c.end ?? now);
  }
  for (const m of shownMarks) {
    const r = row(m.agent);
    r.marks.push(m);
    r.last = Math.max(r.last, m.at);
  }
  for (const id of members) row(id);
  const ranked = [...byAgent.values()].sort((a, b) => b.last - a.last);
  const rows = ranked.slice(0, TEAM_MAX_ROWS).sort((a, b) => a.name.localeCompare(b.name) || a.agent.localeCompare(b.agent));

  const counts: Record<string, number> = { denial: 0, wake: 0 };
  for (const c of shownClaims) counts[c.outcome] = (counts[c.outcome] ?? 0) + 1;
  for (const m of shownMarks) counts[m.kind] = (counts[m.kind] ?? 0) + 1;
  const summary = `${rows.length} agents; ${OUTCOMES.map((o) => `${counts[o.outcome] ?? 0} ${o.label.toLowerCase()}`).join(', ')}; ${counts.denial} edits refused; ${counts.wake} wake-ups.`;

  const allFailed = list.filter((t) => t.status === 'failed' && mine(t.project));
  const failed = allFailed.sort((a, b) => timeOf(b.updated_at) - timeOf(a.updated_at) || b.id - a.id).slice(0, FAILED_SHOWN);
  const recent = [...shownClaims].sort((a, b) => (b.end ?? now) - (a.end ?? now) || b.task - a.task).slice(0, CLAIM_ROWS);
  const recentMarks = shownMarks.slice(-MARK_ROWS).reverse();
  // Project names, never paths: the agents' (by workspace), the leases', the tasks', those of what the page drew.
  const known = projectNames(agents, projects.data ?? [], (leases.data ?? []).map((l) => l.project), model.claims.map((c) => c.project), model.marks.map(placed), [project]);

  return html`<h1>Team${project ? html` <span class="count">${project}</span>` : null}</h1>
    <div class="filters" role="group" aria-label="What the page shows">
      <div class="field">
        <label for="team-project">Project</label>
        <select id="team-project" value=${project} onChange=${(e: Event) => (location.hash = `#/team/${seg((e.target as HTMLSelectElement).value)}`)}>
          <option value="">All projects</option>
          ${known.map((p) => html`<option value=${p}>${p}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="team-span">Span</label>
        <select id="team-span" value=${span} onChange=${(e: Event) => setSpan((e.target as HTMLSelectElement).value as SpanKey)}>${SPANS.map((s) => html`<option value=${s.key}>${s.label}</option>`)}</select>
      </div>
    </div>
    <${ErrorNote} error=${projects.error ?? roster.error ?? leases.error} />
    <section class="panel" aria-labelledby="team-tl-h">
      <h2 id="team-tl-h">Timeline <span class="count">one row per agent (UTC)</span></h2>
      <${Status} loading=${loading} error=${error} />
      <${Legend} counts=${counts} />
      ${loading ? null : html`<${Timeline} rows=${rows} from=${from} to=${to} now=${now} hidden=${ranked.length - rows.length} summary=${summary} />`}
    </section>
    <${Status} loading=${tasks.loading && !taskList} error=${tasks.error} />
    ${taskList ? html`<${Backlog} tasks=${list} capped=${list.length >= TEAM_MAX_TASKS} now=${now} />` : null}
    <section class="panel" aria-labelledby="team-failed-h">
      <h2 id="team-failed-h">Failed tasks <span class="count">${allFailed.length > failed.length ? `the newest ${failed.length} of ${fmtInt(allFailed.length)}` : failed.length}</span></h2>
      ${failed.length === 0
        ? html`<p class="muted">No task failed for good${project ? ` in ${project}` : ''}.</p>`
        : html`<ul class="failed-tasks">${failed.map((t) => html`<${FailedTask} key=${t.id} task=${t} history=${model.historyOf(t.id)} name=${name} />`)}</ul>`}
    </section>
    <div class="two-cols">
      <section class="panel" aria-labelledby="team-claims-h">
        <h2 id="team-claims-h">Latest claims <span class="count">${fmtInt(shownClaims.length)} in the span</span></h2>
        ${recent.length === 0
          ? html`<p class="muted">None.</p>`
          : html`<${TableWrap} label="Latest claims">
              <table>
                <thead><tr><th scope="col">Task</th><th scope="col">Agent</th><th scope="col">Claimed (UTC)</th><th scope="col">Outcome</th></tr></thead>
                <tbody>
                  ${recent.map(
                    (c) => html`<tr key=${`${c.task}:${c.attempt}:${c.start}`} data-claim=${c.task} data-outcome=${c.outcome}>
                      <td><span class="muted small">#${c.task}</span> ${c.title}</td>
                      <td>${name(c.agent)}</td>
                      <td class="nowrap">${clock(c.start)}</td>
                      <td>${OUTCOME_LABEL[c.outcome]}${c.reason ? html` <span class="muted small">(${c.reason})</span>` : null}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            <//>`}
      </section>
      <section class="panel" aria-labelledby="team-marks-h">
        <h2 id="team-marks-h">Edits refused and wake-ups <span class="count">${fmtInt(shownMarks.length)}</span></h2>
        ${recentMarks.length === 0
          ? html`<p class="muted">None.</p>`
          : html`<ul class="plain small">
              ${recentMarks.map((m) => html`<li key=${m.id} data-mark-row=${m.kind}><span class="nowrap muted">${clock(m.at)}</span> <strong>${name(m.agent)}</strong>: ${m.text}</li>`)}
            </ul>`}
      </section>
    </div>`;
}
