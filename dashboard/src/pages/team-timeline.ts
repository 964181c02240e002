/**
 * The team page's timeline: one row per agent, its claims as bars coloured by how they ended, the
 * edits refused and the wake-ups as marks, over the time axis (./team-axis.ts); and its legend.
 */
import type { Claim, Mark, Outcome } from '../team.js';
import { fmtInt, html } from '../ui.js';
import { Axis, AXIS_H, clock, PAD_R, useWidth } from './team-axis.js';

export const OUTCOMES: ReadonlyArray<{ outcome: Outcome; label: string }> = [
  { outcome: 'open', label: 'Claimed (open)' },
  { outcome: 'done', label: 'Done' },
  { outcome: 'released', label: 'Released' },
  { outcome: 'retried', label: 'Failed, retried' },
  { outcome: 'failed', label: 'Failed for good' },
];
export const OUTCOME_LABEL = Object.fromEntries(OUTCOMES.map((o) => [o.outcome, o.label])) as Record<Outcome, string>;

const LABEL_W = 150;
const ROW_H = 26;
const BAR_H = 14;
/** A bar is never thinner than this (claims are timed to the second). */
const MIN_BAR_PX = 3;

export interface Row {
  agent: string;
  name: string;
  claims: Claim[];
  marks: Mark[];
}

function claimTitle(c: Claim, name: string): string {
  const span = `${clock(c.start)} → ${c.end === null ? 'now' : clock(c.end)}`;
  return `#${c.task} ${c.title} — ${name}, attempt ${c.attempt}: ${OUTCOME_LABEL[c.outcome]}${c.reason ? ` (${c.reason})` : ''}\n${span} UTC`;
}

export function Timeline({ rows, from, to, now, hidden, summary }: { rows: Row[]; from: number; to: number; now: number; hidden: number; summary: string }) {
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

export function Legend({ counts }: { counts: Record<string, number> }) {
  return html`<ul class="legend" aria-label="Legend and counts in this span">
    ${OUTCOMES.map((o) => html`<li data-legend=${o.outcome}><svg width="18" height="12" aria-hidden="true"><rect class=${`bar o-${o.outcome}`} x="1" y="1" width="16" height="10" rx="2" /></svg>${o.label} <strong>${fmtInt(counts[o.outcome] ?? 0)}</strong></li>`)}
    <li data-legend="denial"><svg width="14" height="12" aria-hidden="true"><path class="mark denial" d="M2 1 L12 1 L7 10 Z" /></svg>Edit refused <strong>${fmtInt(counts.denial ?? 0)}</strong></li>
    <li data-legend="wake"><svg width="14" height="12" aria-hidden="true"><circle class="mark wake" cx="7" cy="6" r="4.5" /></svg>Woken <strong>${fmtInt(counts.wake ?? 0)}</strong></li>
  </ul>`;
}
