/**
 * The team page's backlog: the tasks per status, as figures and one stacked bar, and the tasks
 * created, done and failed over time (a step chart on the time axis of ./team-axis.ts).
 */
import type { Task, TaskStatus } from '../../../schemas/http/tasks.js';
import { timeOf } from '../team.js';
import { fmtInt, html } from '../ui.js';
import { Axis, AXIS_H, MIN_AXIS_MS, PAD_R, useWidth } from './team-axis.js';

/** Tasks read for the counts and the progress chart (the API's largest page). */
export const TEAM_MAX_TASKS = 10_000;

const STATUSES: ReadonlyArray<{ status: TaskStatus; label: string }> = [
  { status: 'ready', label: 'Ready' },
  { status: 'blocked', label: 'Blocked' },
  { status: 'claimed', label: 'Claimed' },
  { status: 'done', label: 'Done' },
  { status: 'failed', label: 'Failed' },
];

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

export function Backlog({ tasks, capped, now }: { tasks: readonly Task[]; capped: boolean; now: number }) {
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
