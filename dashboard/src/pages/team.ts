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
import type { RefObject } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Task, TaskStatus } from '../../../schemas/http/tasks.js';
import type { EventReply as KoorEvent } from '../../../schemas/http/events.js';
import { EVENTS_HISTORY_MAX_LAST } from '../../../src/shared/limits.js';
import { COORD_LIST_MAX_LIMIT } from '../../../src/shared/limits-features.js';
import { projectOf } from '../../../src/shared/workspace.js';
import { ApiError, getJson, query, request, seg } from '../api.js';
import { projectNames, taskProjects } from '../projects.js';
import { isTeamEvent, markProject, TeamModel, timeOf, type Claim, type Mark, type Outcome } from '../team.js';
import { brief, ErrorNote, fmtInt, fmtTime, html, message, Status, TableWrap, useLive, useLoad, useOnEvents, useVisibleInterval } from '../ui.js';

/** Events of each topic read from the history when the page opens (the default retention keeps 1000 in all). */
const TEAM_HISTORY_EVENTS = 5000;
/** History pages read per topic at most (a rare topic in a long log comes in windows: X-Koor-Next). */
const TEAM_HISTORY_PAGES = 10;
/** Tasks read for the counts and the progress chart (the API's largest page). */
const TEAM_MAX_TASKS = 10_000;
/** Agents and leases whose project the page remembers once gone from the roster or the lease list (to place their marks). */
const TEAM_MAX_REMEMBERED = 10_000;
/** Agent rows drawn at most (the most recently active first); the rest are counted. */
const TEAM_MAX_ROWS = 60;
/** Failed tasks listed at most, the newest first. */
const FAILED_SHOWN = 50;
/** Claims in the table under the timeline. */
const CLAIM_ROWS = 25;
/** Denials and wake-ups in the list under the timeline. */
const MARK_ROWS = 20;
/** The shortest time axis drawn (a span fitted to a few seconds of work would magnify 1 s steps). */
const MIN_AXIS_MS = 20_000;

const TOPICS = [
  { topic: 'task.*', source: 'tasks' },
  { topic: 'lease.denied', source: 'hooks' },
  { topic: 'hook.woken', source: '' },
] as const;

const SPANS = [
  { key: 'all', label: 'Everything kept', ms: 0 },
  { key: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { key: '1h', label: 'Last hour', ms: 3_600_000 },
  { key: '6h', label: 'Last 6 hours', ms: 6 * 3_600_000 },
  { key: '24h', label: 'Last 24 hours', ms: 86_400_000 },
] as const;
type SpanKey = (typeof SPANS)[number]['key'];

const OUTCOMES: ReadonlyArray<{ outcome: Outcome; label: string }> = [
  { outcome: 'open', label: 'Claimed (open)' },
  { outcome: 'done', label: 'Done' },
  { outcome: 'released', label: 'Released' },
  { outcome: 'retried', label: 'Failed, retried' },
  { outcome: 'failed', label: 'Failed for good' },
];
const OUTCOME_LABEL = Object.fromEntries(OUTCOMES.map((o) => [o.outcome, o.label])) as Record<Outcome, string>;

const STATUSES: ReadonlyArray<{ status: TaskStatus; label: string }> = [
  { status: 'ready', label: 'Ready' },
  { status: 'blocked', label: 'Blocked' },
  { status: 'claimed', label: 'Claimed' },
  { status: 'done', label: 'Done' },
  { status: 'failed', label: 'Failed' },
];

// --- Data ------------------------------------------------------------------------------------

/** One topic's history, newest first, following X-Koor-Next through a long log (bounded). */
async function readHistory(topic: string, source: string): Promise<KoorEvent[]> {
  const out: KoorEvent[] = [];
  let before: string | null = null;
  for (let page = 0; page < TEAM_HISTORY_PAGES && out.length < TEAM_HISTORY_EVENTS; page++) {
    const last = Math.min(TEAM_HISTORY_EVENTS - out.length, EVENTS_HISTORY_MAX_LAST);
    const res = await request('GET', `/api/events/history${query({ topic, source, last, before })}`);
    out.push(...((await res.json()) as KoorEvent[]));
    const next = res.headers.get('X-Koor-Next');
    if (next === null || !next.startsWith('before=')) break;
    before = next.slice('before='.length);
  }
  return out;
}

/**
 * The model, fed the history and then the live stream. Live events that arrive while the history
 * is read are held, then applied with it in id order (each once).
 */
function useTeamModel(): { model: TeamModel; version: number; loading: boolean; error: string | null } {
  const live = useLive();
  const [model, setModel] = useState(() => new TeamModel());
  const [version, setVersion] = useState(0);
  const [state, setState] = useState<{ loading: boolean; error: string | null }>({ loading: true, error: null });
  useEffect(() => {
    const m = new TeamModel();
    setModel(m);
    let held: KoorEvent[] | null = [];
    let cancelled = false;
    const off = live.subscribe((fresh) => {
      if (held) held.push(...fresh.filter(isTeamEvent));
      else if (m.apply(fresh)) setVersion((v) => v + 1);
    });
    const goLive = (history: KoorEvent[], error: string | null) => {
      if (cancelled) return;
      const byId = new Map<number, KoorEvent>();
      for (const e of [...history, ...(held ?? [])]) byId.set(e.id, e);
      held = null;
      m.apply([...byId.values()].sort((a, b) => a.id - b.id));
      setVersion((v) => v + 1);
      setState({ loading: false, error });
    };
    Promise.all(TOPICS.map((t) => readHistory(t.topic, t.source))).then(
      (lists) => goLive(lists.flat(), null),
      (e: unknown) => goLive([], `The history could not be read (live events still show): ${message(e)}`),
    );
    return () => {
      cancelled = true;
      off();
    };
  }, [live]);
  return { model, version, ...state };
}

// --- Time axis ---------------------------------------------------------------------------------

const STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800].map((s) => s * 1000);

/** Tick times between from and to, about one per `px` pixels of `width`. */
function ticks(from: number, to: number, width: number, px = 90): { at: number[]; step: number } {
  const want = Math.max(2, Math.floor(width / px));
  const step = STEPS_MS.find((s) => (to - from) / s <= want) ?? STEPS_MS[STEPS_MS.length - 1]!;
  const at: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) at.push(t);
  return { at, step };
}

/** A tick's label (UTC, as every time on the dashboard). */
function tickLabel(t: number, step: number): string {
  const iso = new Date(t).toISOString();
  if (step >= 86_400_000) return iso.slice(5, 10);
  return step >= 60_000 ? iso.slice(11, 16) : iso.slice(11, 19);
}

const clock = (t: number | null): string => (t === null ? 'before the history' : fmtTime(new Date(t).toISOString()));

/** The width of an element, followed as the window resizes. */
function useWidth(min: number): [RefObject<HTMLDivElement>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setWidth(Math.max(min, Math.floor(el.clientWidth)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [min]);
  return [ref, width];
}

function Axis({ x, from, to, width, y, height }: { x: (t: number) => number; from: number; to: number; width: number; y: number; height: number }) {
  const { at, step } = ticks(from, to, width);
  // A label that would run past the right edge is left out (its grid line stays).
  const fits = (t: number) => x(t) + 28 <= x(to) + PAD_R;
  return html`<g class="axis" aria-hidden="true">
    ${at.map(
      (t) => html`<g key=${t}>
        <line x1=${x(t)} x2=${x(t)} y1=${y} y2=${y + height} class="grid" />
        ${fits(t) ? html`<text x=${x(t)} y=${y - 6} text-anchor="middle">${tickLabel(t, step)}</text>` : null}
      </g>`,
    )}
  </g>`;
}

// --- Timeline ----------------------------------------------------------------------------------

const LABEL_W = 150;
const ROW_H = 26;
const BAR_H = 14;
const AXIS_H = 22;
const PAD_R = 12;
/** A bar is never thinner than this (claims are timed to the second). */
const MIN_BAR_PX = 3;

interface Row {
  agent: string;
  name: string;
  claims: Claim[];
  marks: Mark[];
}

function claimTitle(c: Claim, name: string): string {
  const span = `${clock(c.start)} → ${c.end === null ? 'now' : clock(c.end)}`;
  return `#${c.task} ${c.title} — ${name}, attempt ${c.attempt}: ${OUTCOME_LABEL[c.outcome]}${c.reason ? ` (${c.reason})` : ''}\n${span} UTC`;
}

function Timeline({ rows, from, to, now, hidden, summary }: { rows: Row[]; from: number; to: number; now: number; hidden: number; summary: string }) {
  const [box, width] = useWidth(420);
  const plotW = Math.max(1, width - LABEL_W - PAD_R);
  const x = (t: number) => LABEL_W + ((t - from) / (to - from)) * plotW;
  const height = AXIS_H + Math.max(1, rows.length) * ROW_H + 4;
  return html`<div ref=${box} class="timeline">
    ${width === 0
      ? null
      : html`<svg width=${width} height=${height} role="img" aria-labelledby="tl-title tl-desc" data-timeline="">
          <title id="tl-title">Claims, denials and wake-ups per agent over time</title>
          <desc id="tl-desc">${summary}</desc>
          <${Axis} x=${x} from=${from} to=${to} width=${plotW} y=${AXIS_H} height=${rows.length * ROW_H} />
          ${rows.map((r, i) => {
            const y = AXIS_H + i * ROW_H;
            return html`<g key=${r.agent} class="tl-row" data-agent=${r.agent} transform=${`translate(0 ${y})`}>
              <rect class=${`stripe ${i % 2 ? 'odd' : ''}`} x="0" y="0" width=${width} height=${ROW_H} />
              <g><title>${`${r.name} (${r.agent})`}</title><text class="label" x="6" y=${ROW_H / 2 + 4}>${r.name.length > 20 ? `${r.name.slice(0, 19)}…` : r.name}</text></g>
              ${r.claims.map((c) => {
                const s = Math.max(from, c.start ?? from);
                const e = Math.min(to, c.end ?? now);
                const x0 = x(s);
                const w = Math.max(MIN_BAR_PX, x(e) - x0);
                return html`<rect key=${`${c.task}:${c.attempt}:${c.start}`} class=${`bar o-${c.outcome}${c.start === null ? ' cut' : ''}`} data-task=${c.task} data-outcome=${c.outcome} x=${x0} y=${(ROW_H - BAR_H) / 2} width=${w} height=${BAR_H} rx="2"><title>${claimTitle(c, r.name)}</title></rect>`;
              })}
              ${r.marks.map((m) => {
                const mx = x(m.at);
                return m.kind === 'denial'
                  ? html`<path key=${m.id} class="mark denial" data-mark="denial" d=${`M${mx - 5} 1 L${mx + 5} 1 L${mx} 10 Z`}><title>${`${clock(m.at)} UTC: ${m.text}`}</title></path>`
                  : html`<circle key=${m.id} class="mark wake" data-mark="wake" cx=${mx} cy=${ROW_H - 6} r="4.5"><title>${`${clock(m.at)} UTC: ${m.text}`}</title></circle>`;
              })}
            </g>`;
          })}
          ${now >= from && now <= to ? html`<line class="now" x1=${x(now)} x2=${x(now)} y1=${AXIS_H - 4} y2=${height} />` : null}
        </svg>`}
    ${rows.length === 0 ? html`<p class="muted">No agent has claimed a task, been refused an edit or been woken in this span.</p>` : null}
    ${hidden > 0 ? html`<p class="muted small">${fmtInt(hidden)} more agents, less recently active, are not drawn.</p>` : null}
  </div>`;
}

function Legend({ counts }: { counts: Record<string, number> }) {
  return html`<ul class="legend" aria-label="Legend and counts in this span">
    ${OUTCOMES.map((o) => html`<li data-legend=${o.outcome}><svg width="18" height="12" aria-hidden="true"><rect class=${`bar o-${o.outcome}`} x="1" y="1" width="16" height="10" rx="2" /></svg>${o.label} <strong>${fmtInt(counts[o.outcome] ?? 0)}</strong></li>`)}
    <li data-legend="denial"><svg width="14" height="12" aria-hidden="true"><path class="mark denial" d="M2 1 L12 1 L7 10 Z" /></svg>Edit refused <strong>${fmtInt(counts.denial ?? 0)}</strong></li>
    <li data-legend="wake"><svg width="14" height="12" aria-hidden="true"><circle class="mark wake" cx="7" cy="6" r="4.5" /></svg>Woken <strong>${fmtInt(counts.wake ?? 0)}</strong></li>
  </ul>`;
}

// --- Backlog -----------------------------------------------------------------------------------

/** Cumulative counts at each time a count changed: [time, count] steps. */
function steps(times: number[]): Array<[number, number]> {
  return times
    .filter(Number.isFinite)
    .sort((a, b) => a - b)
    .map((t, i) => [t, i + 1]);
}

function Progress({ tasks, now }: { tasks: readonly Task[]; now: number }) {
  const [box, width] = useWidth(320);
  const H = 150;
  const top = AXIS_H;
  const created = steps(tasks.map((t) => timeOf(t.created_at)));
  const done = steps(tasks.filter((t) => t.status === 'done').map((t) => timeOf(t.updated_at)));
  const failed = steps(tasks.filter((t) => t.status === 'failed').map((t) => timeOf(t.updated_at)));
  if (created.length === 0) return html`<div ref=${box}></div>`;
  const from = Math.min(created[0]![0], now - MIN_AXIS_MS);
  const to = now;
  const left = 44;
  const plotW = Math.max(1, width - left - PAD_R);
  const x = (t: number) => left + ((t - from) / (to - from)) * plotW;
  const max = created.length;
  const y = (n: number) => top + (H - top - 18) * (1 - n / max);
  const path = (s: Array<[number, number]>) => {
    let d = `M${x(from)} ${y(0)}`;
    for (const [t, n] of s) d += ` H${x(t)} V${y(n)}`;
    return `${d} H${x(now)}`;
  };
  const label = `Tasks created, done and failed over time: ${created.length} created, ${done.length} done, ${failed.length} failed.`;
  return html`<div ref=${box} class="progress-chart">
    ${width === 0
      ? null
      : html`<svg width=${width} height=${H} role="img" aria-label=${label} data-progress="">
          <${Axis} x=${x} from=${from} to=${to} width=${plotW} y=${top} height=${H - top - 18} />
          <g class="axis" aria-hidden="true">
            <text x=${left - 6} y=${y(max) + 4} text-anchor="end">${max}</text>
            <text x=${left - 6} y=${y(0) + 4} text-anchor="end">0</text>
          </g>
          <path class="line created" d=${path(created)} />
          <path class="line failed" d=${path(failed)} />
          <path class="line done" d=${path(done)} data-done=${done.length} />
        </svg>`}
    <ul class="legend" aria-hidden="true">
      <li><span class="swatch created"></span>Created</li>
      <li><span class="swatch done"></span>Done</li>
      <li><span class="swatch failed"></span>Failed</li>
    </ul>
  </div>`;
}

function Backlog({ tasks, capped, now }: { tasks: readonly Task[]; capped: boolean; now: number }) {
  const count = (s: TaskStatus) => tasks.filter((t) => t.status === s).length;
  const total = tasks.length;
  const counts = STATUSES.map((s) => ({ ...s, n: count(s.status) }));
  const done = counts.find((c) => c.status === 'done')!.n;
  return html`<section class="panel" aria-labelledby="team-backlog-h">
    <h2 id="team-backlog-h">Backlog <span class="count">${fmtInt(done)} of ${fmtInt(total)} done${capped ? ` (the first ${fmtInt(TEAM_MAX_TASKS)} tasks)` : ''}</span></h2>
    <dl class="figures" aria-label="Tasks per status">
      ${counts.map((c) => html`<div class="figure"><dt>${c.label}</dt><dd data-count=${c.status}>${fmtInt(c.n)}</dd></div>`)}
      <div class="figure"><dt>Total</dt><dd data-count="total">${fmtInt(total)}</dd></div>
    </dl>
    ${total > 0
      ? html`<div class="stack" role="img" aria-label=${counts.map((c) => `${c.label} ${c.n}`).join(', ')}>
          ${counts.map((c) => (c.n === 0 ? null : html`<span class=${`s-${c.status}`} style=${`flex-grow:${c.n}`} title=${`${c.label}: ${c.n}`}></span>`))}
        </div>`
      : null}
    <${Progress} tasks=${tasks} now=${now} />
  </section>`;
}

// --- Failed tasks --------------------------------------------------------------------------------

function Checkpoints({ task }: { task: number }) {
  const cps = useLoad(
    () =>
      getJson<'GET /api/tasks/{id}/checkpoints'>(`/api/tasks/${task}/checkpoints`).catch((e: unknown) => {
        // A server without checkpoints (or none for this task): the attempts above are the history.
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
        throw e;
      }),
    [task],
  );
  if (cps.loading && !cps.data) return html`<p class="muted small">Loading checkpoints…</p>`;
  if (cps.error) return html`<${ErrorNote} error=${cps.error} />`;
  const list = cps.data;
  if (list === null || list.length === 0) return html`<p class="muted small" data-checkpoints="none">No checkpoints recorded.</p>`;
  return html`<${TableWrap} label=${`Checkpoints of task ${task}`}>
    <table data-checkpoints=${list.length}>
      <thead><tr><th scope="col">#</th><th scope="col">At (UTC)</th><th scope="col">By</th><th scope="col">Done</th><th scope="col">Next</th><th scope="col">Data</th></tr></thead>
      <tbody>
        ${list.map(
          (c) => html`<tr key=${c.seq} data-checkpoint=${c.seq}>
            <td class="num">${c.seq}</td><td class="nowrap">${fmtTime(c.at)}</td><td>${c.by_name || c.by}</td>
            <td>${brief(c.done)}</td><td>${brief(c.next)}</td><td><code class="small">${c.data === null || c.data === undefined ? '' : brief(c.data)}</code></td>
          </tr>`,
        )}
      </tbody>
    </table>
  <//>`;
}

function FailedTask({ task, history, name }: { task: Task; history: Claim[]; name: (id: string) => string }) {
  const [open, setOpen] = useState(false);
  return html`<li data-failed-task=${task.id}>
    <details onToggle=${(e: Event) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary><span class="muted small">#${task.id}</span> ${task.title} <span class="muted small">· ${task.project} · ${task.attempts} / ${task.max_attempts} attempts · ${fmtTime(task.updated_at)}</span></summary>
      ${task.reason ? html`<p class="small">Reason: ${task.reason}</p>` : null}
      ${history.length === 0
        ? html`<p class="muted small">Its claims are older than the events kept.</p>`
        : html`<ol class="attempts small">
            ${history.map((c) => html`<li data-attempt=${c.attempt}>attempt ${c.attempt}: ${name(c.agent)}, ${clock(c.start)} → ${c.end === null ? 'now' : clock(c.end)}, <strong>${OUTCOME_LABEL[c.outcome]}</strong>${c.reason ? ` (${c.reason})` : ''}</li>`)}
          </ol>`}
      ${open ? html`<${Checkpoints} task=${task.id} />` : null}
    </details>
  </li>`;
}

// --- The page ----------------------------------------------------------------------------------

/** Sets `key` to `value` (a non-empty one), the newest last, the oldest going past `max`. */
function remember(map: Map<string, string>, key: string, value: string, max: number): void {
  if (value === '' || map.get(key) === value) return;
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value!);
}

/**
 * The projects of agents (their workspace's) and of leases, as the roster and the lease list said,
 * kept after they leave them: an edit refused names neither its project nor keeps its lease, and
 * its agent may have ended its session since.
 */
function useWhereabouts(agents: ReadonlyArray<{ id: string; workspace: string }> | null, leases: ReadonlyArray<{ id: string; project: string }> | null) {
  const maps = useRef({ agents: new Map<string, string>(), leases: new Map<string, string>() }).current;
  useMemo(() => {
    for (const a of agents ?? []) remember(maps.agents, a.id, projectOf(a.workspace), TEAM_MAX_REMEMBERED);
  }, [agents]);
  useMemo(() => {
    for (const l of leases ?? []) remember(maps.leases, l.id, l.project, TEAM_MAX_REMEMBERED);
  }, [leases]);
  return { agent: (id: string) => maps.agents.get(id) ?? '', lease: (id: string) => maps.leases.get(id) ?? '' };
}

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
