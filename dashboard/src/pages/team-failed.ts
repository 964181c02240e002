/**
 * A failed task on the team page: its attempts as the events told them, and its checkpoints
 * (read when it is opened, where the server keeps them).
 */
import { useState } from 'preact/hooks';
import type { Task } from '../../../schemas/http/tasks.js';
import { ApiError, getJson } from '../api.js';
import type { Claim } from '../team.js';
import { brief, ErrorNote, fmtTime, html, TableWrap, useLoad } from '../ui.js';
import { clock } from './team-axis.js';
import { OUTCOME_LABEL } from './team-timeline.js';

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

export function FailedTask({ task, history, name }: { task: Task; history: Claim[]; name: (id: string) => string }) {
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
