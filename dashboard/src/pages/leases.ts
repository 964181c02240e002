/**
 * Live leases (GET /api/leases) of one project or of all, filtered by holder or by a glob they
 * overlap, and "who holds this file" (GET /api/leases/check?path=&project=). A lease belongs to a
 * project: the same path in two projects is two files, so a path is looked up within a
 * project — or, for all projects, within each project that holds a lease. Read-only: releasing
 * needs the holder's identity. Read again on `lease.acquired` and `lease.released` events (expiry
 * included).
 */
import { useState } from 'preact/hooks';
import type { Lease } from '../../../schemas/http/leases.js';
import { getJson, query, seg } from '../api.js';
import { knownProjects, leaseProjects } from '../projects.js';
import { ErrorNote, fmtTime, html, Status, TableWrap, useLoad, useOnEvents } from '../ui.js';

interface Filters {
  holder: string;
  resource: string;
}

const EMPTY: Filters = { holder: '', resource: '' };

/**
 * `one(p)` for the chosen project, or for each project that holds a live lease when the page shows
 * all (a path means nothing without its project); their lists end to end, by project.
 */
async function inProjects(project: string, one: (project: string) => Promise<Lease[]>): Promise<Lease[]> {
  if (project !== '') return one(project);
  const holding = [...new Set(await leaseProjects())].sort();
  return (await Promise.all(holding.map(one))).flat();
}

function LeaseTable({ list, label, showProject }: { list: readonly Lease[]; label: string; showProject: boolean }) {
  return html`<${TableWrap} label=${label}>
    <table>
      <thead><tr><th scope="col">Holder</th>${showProject ? html`<th scope="col">Project</th>` : null}<th scope="col">Resources</th><th scope="col">Mode</th><th scope="col">Reason</th><th scope="col">Acquired (UTC)</th><th scope="col">Expires (UTC)</th><th scope="col">Lease id</th></tr></thead>
      <tbody>
        ${list.map(
          (l) => html`<tr key=${l.id} data-lease=${l.id} data-project=${l.project}>
            <th scope="row">${l.holder_name || html`<code class="small">${l.holder}</code>`}</th>
            ${showProject ? html`<td>${l.project ? html`<a href=${`#/leases/${seg(l.project)}`}>${l.project}</a>` : html`<span class="muted">none</span>`}</td>` : null}
            <td>${l.resources.map((r, i) => html`${i > 0 ? html`<br />` : null}<code>${r}</code>`)}</td>
            <td><span class=${`badge ${l.exclusive ? 'sev-warning' : 'status-pending'}`}>${l.exclusive ? 'exclusive' : 'shared'}</span></td>
            <td>${l.reason || html`<span class="muted">—</span>`}</td>
            <td class="nowrap">${fmtTime(l.acquired_at)}</td>
            <td class="nowrap">${l.expires_at ? fmtTime(l.expires_at) : html`<span class="muted">with its holder</span>`}</td>
            <td><code class="small">${l.id}</code></td>
          </tr>`,
        )}
      </tbody>
    </table>
  <//>`;
}

export function LeasesPage({ project }: { project: string }) {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [path, setPath] = useState('');
  const [checked, setChecked] = useState('');
  // Tagged with its project: the previous project's leases are not shown as this one's while it loads.
  const leases = useLoad(
    () =>
      (applied.resource === ''
        ? getJson<'GET /api/leases'>(`/api/leases${query({ ...applied, project })}`)
        : inProjects(project, (p) => getJson<'GET /api/leases'>(`/api/leases${query({ ...applied, project: p })}`))
      ).then((list) => ({ project, list })),
    [applied, project],
  );
  const agents = useLoad(() => getJson<'GET /api/instances'>('/api/instances'), []);
  const projects = useLoad(knownProjects, []);
  const holders = useLoad(
    () =>
      checked === ''
        ? Promise.resolve(null)
        : inProjects(project, (p) => getJson<'GET /api/leases/check'>(`/api/leases/check${query({ path: checked, project: p })}`)).then((list) => ({ project, list })),
    [checked, project],
  );
  const reload = () => {
    leases.reload();
    if (checked !== '') holders.reload();
  };
  useOnEvents('lease.*', reload, 500);
  // A new agent may be about to take leases: the holder list follows the roster, the project list too.
  useOnEvents('agent.*', () => (agents.reload(), projects.reload()), 1000);
  useOnEvents('lease.acquired', () => projects.reload(), 1000);
  useOnEvents('task.created', () => projects.reload(), 1000);

  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
  const apply = (e: Event) => {
    e.preventDefault();
    setApplied({ holder: draft.holder, resource: draft.resource.trim() });
  };
  const check = (e: Event) => {
    e.preventDefault();
    const p = path.trim();
    if (p === checked) holders.reload();
    else setChecked(p);
  };
  const list = leases.data?.project === project ? leases.data.list : [];
  const held = holders.data?.project === project ? holders.data.list : null;
  const known = agents.data ?? [];
  const projectList = [...new Set([...(projects.data ?? []), ...(project === '' ? [] : [project])])].sort();
  const filtered = applied.holder !== '' || applied.resource !== '';
  const all = project === '';
  const where = all ? '' : ` in ${project}`;
  return html`<h1>Leases${project ? html` <span class="count">${project}</span>` : null}</h1>
    <form class="filters" onSubmit=${apply} aria-label="Filter the leases">
      <div class="field">
        <label for="le-project">Project</label>
        <select id="le-project" value=${project} onChange=${(e: Event) => (location.hash = `#/leases/${seg((e.target as HTMLSelectElement).value)}`)}>
          <option value="">All projects</option>
          ${projectList.map((p) => html`<option value=${p}>${p}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="le-holder">Holder</label>
        <select id="le-holder" value=${draft.holder} onChange=${set('holder')}>
          <option value="">Any agent</option>
          ${known.map((i) => html`<option value=${i.id}>${i.name || i.id}</option>`)}
          ${draft.holder !== '' && !known.some((i) => i.id === draft.holder) ? html`<option value=${draft.holder}>${draft.holder}</option>` : null}
        </select>
      </div>
      <div class="field">
        <label for="le-resource">Overlapping</label>
        <input id="le-resource" placeholder="src/api/** or a file" value=${draft.resource} aria-describedby="le-resource-hint" onInput=${set('resource')} />
        <span class="hint" id="le-resource-hint">a path or glob${all ? ', in each project' : ''}</span>
      </div>
      <button type="submit" class="primary">Apply</button>
      <button type="button" onClick=${() => (setDraft(EMPTY), setApplied(EMPTY))}>Clear</button>
    </form>
    <${ErrorNote} error=${projects.error} />
    <${Status} loading=${leases.loading && leases.data?.project !== project} error=${leases.error} />
    <section class="panel" aria-labelledby="le-list-h">
      <h2 id="le-list-h">Live leases${where} <span class="count">${list.length}</span></h2>
      ${list.length === 0 && !leases.loading
        ? html`<p class="muted">${filtered ? 'No live lease matches.' : `No agent holds a lease${where}.`}</p>`
        : html`<${LeaseTable} list=${list} label="Live leases" showProject=${all} />`}
    </section>
    <section class="panel" aria-labelledby="le-check-h">
      <h2 id="le-check-h">Who holds this file${where}?</h2>
      <form class="inline-form" onSubmit=${check}>
        <label for="le-path">File path</label>
        <input id="le-path" placeholder="src/api/trucks.ts" value=${path} required onInput=${(e: Event) => setPath((e.target as HTMLInputElement).value)} />
        <button type="submit">Check</button>
      </form>
      <${ErrorNote} error=${holders.error} />
      ${checked !== '' && held
        ? held.length === 0
          ? html`<p class="muted" data-check="free">No lease covers <code>${checked}</code>${where}.</p>`
          : html`<p data-check="held"><code>${checked}</code> is held by ${held.map((l, i) => html`${i > 0 ? ', ' : ''}<strong>${l.holder_name || l.holder}</strong> (${all && l.project ? `in ${l.project}, ` : ''}${l.exclusive ? 'exclusive' : 'shared'})`)}.</p>
              <${LeaseTable} list=${held} label=${`Leases covering ${checked}`} showProject=${all} />`
        : null}
    </section>`;
}
