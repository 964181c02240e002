/**
 * The task board of a project (GET /api/tasks?project=): one column per status, the tasks in the
 * order the server hands them out (priority, then age). Read again on `task.*` events.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Task, TaskStatus } from '../../../schemas/http/tasks.js';
import { getJson, query, seg } from '../api.js';
import { ErrorNote, fmtInt, fmtTime, html, Status, useLoad, useOnEvents } from '../ui.js';

const COLUMNS: ReadonlyArray<{ status: TaskStatus; label: string }> = [
  { status: 'ready', label: 'Ready' },
  { status: 'blocked', label: 'Blocked' },
  { status: 'claimed', label: 'Claimed' },
  { status: 'done', label: 'Done' },
  { status: 'failed', label: 'Failed' },
];

/** Tasks read per board (the server's default page). */
const BOARD_LIMIT = 1000;

/** Projects that have tasks (from the newest page of every project's tasks), sorted. */
async function taskProjects(): Promise<string[]> {
  const tasks = await getJson<'GET /api/tasks'>(`/api/tasks${query({ limit: BOARD_LIMIT })}`);
  return [...new Set(tasks.map((t) => t.project))].sort();
}

/** Claim order: the highest priority first, then the oldest. */
const byClaimOrder = (a: Task, b: Task): number => b.priority - a.priority || a.id - b.id;

function TaskCard({ task }: { task: Task }) {
  return html`<li class="task" data-task=${task.id}>
    <div class="task-title"><span class="muted small">#${task.id}</span> ${task.title}</div>
    <dl class="task-facts small">
      <div><dt>Priority</dt><dd>${fmtInt(task.priority)}</dd></div>
      <div><dt>Attempts</dt><dd>${task.attempts} / ${task.max_attempts}</dd></div>
      ${task.claimed_by_name || task.claimed_by ? html`<div><dt>Claimed by</dt><dd>${task.claimed_by_name || task.claimed_by}</dd></div>` : null}
      ${task.deps.length > 0 ? html`<div><dt>Deps</dt><dd>${task.deps.map((d) => `#${d}`).join(', ')}</dd></div>` : null}
      ${task.capabilities.length > 0 ? html`<div><dt>Needs</dt><dd>${task.capabilities.join(', ')}</dd></div>` : null}
      ${task.reason ? html`<div><dt>Reason</dt><dd>${task.reason}</dd></div>` : null}
      <div><dt>Updated</dt><dd class="nowrap">${fmtTime(task.updated_at)}</dd></div>
    </dl>
  </li>`;
}

function Board({ project }: { project: string }) {
  const tasks = useLoad(() => getJson<'GET /api/tasks'>(`/api/tasks${query({ project, limit: BOARD_LIMIT })}`), [project]);
  useOnEvents('task.*', (events) => {
    if (events.some((e) => (e.data as { project?: unknown } | null)?.project === project)) tasks.reload();
  }, 500);
  const list = tasks.data ?? [];
  return html`<${Status} loading=${tasks.loading && !tasks.data} error=${tasks.error} />
    ${list.length === 0 && !tasks.loading
      ? html`<p class="muted">No tasks in <strong>${project}</strong>.</p>`
      : html`${list.length >= BOARD_LIMIT ? html`<p class="muted">Showing the first ${fmtInt(BOARD_LIMIT)} tasks.</p>` : null}
          <div class="board">
            ${COLUMNS.map(({ status, label }) => {
              const col = list.filter((t) => t.status === status).sort(byClaimOrder);
              return html`<section class="panel board-col" data-status=${status} aria-labelledby=${`tk-${status}-h`}>
                <h2 id=${`tk-${status}-h`}>${label} <span class="count">${col.length}</span></h2>
                ${col.length === 0 ? html`<p class="muted small">None.</p>` : html`<ul class="tasks">${col.map((t) => html`<${TaskCard} key=${t.id} task=${t} />`)}</ul>`}
              </section>`;
            })}
          </div>`}`;
}

export function TasksPage({ project }: { project: string }) {
  const [typed, setTyped] = useState(project);
  useEffect(() => setTyped(project), [project]);
  const projects = useLoad(taskProjects, []);
  useOnEvents('task.created', () => projects.reload(), 1000);
  const open = (e: Event) => {
    e.preventDefault();
    location.hash = `#/tasks/${seg(typed.trim())}`;
  };
  const known = projects.data ?? [];
  return html`<h1>Tasks${project ? html` <span class="count">${project}</span>` : null}</h1>
    <form class="inline-form" onSubmit=${open}>
      <label for="task-project">Project</label>
      <input id="task-project" list="task-projects" value=${typed} onInput=${(e: Event) => setTyped((e.target as HTMLInputElement).value)} required />
      <datalist id="task-projects">${known.map((p) => html`<option value=${p} />`)}</datalist>
      <button type="submit">Show the board</button>
    </form>
    <${ErrorNote} error=${projects.error} />
    ${known.length > 0
      ? html`<p class="muted">Projects with tasks: ${known.map((p, i) => html`${i > 0 ? ', ' : ''}<a href=${`#/tasks/${seg(p)}`} aria-current=${p === project ? 'page' : undefined}>${p}</a>`)}</p>`
      : project === '' && !projects.loading
        ? html`<p class="muted">No tasks yet.</p>`
        : null}
    ${project === '' ? null : html`<${Board} project=${project} />`}`;
}
