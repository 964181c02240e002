/**
 * Specs and contracts per project (GET /api/specs/{project}, …/{name}). The API has no list of
 * projects, so the picker suggests the projects the server knows of elsewhere: rules, agents'
 * projects (their workspaces'; compliance reads contracts there) and LLM usage.
 */
import { useEffect, useState } from 'preact/hooks';
import { projectOf } from '../../../src/shared/workspace.js';
import { getJson, request, seg } from '../api.js';
import { ErrorNote, fmtTime, html, Status, TableWrap, useLoad } from '../ui.js';

/** Project names the server mentions anywhere the dashboard can read, sorted. */
async function knownProjects(): Promise<string[]> {
  const names = new Set<string>();
  const [rules, instances, llm] = await Promise.allSettled([
    getJson<'GET /api/rules'>('/api/rules'),
    getJson<'GET /api/instances'>('/api/instances'),
    getJson<'GET /api/llm/usage/summary'>('/api/llm/usage/summary?group_by=project'),
  ]);
  if (rules.status === 'fulfilled') for (const r of rules.value) names.add(r.project);
  if (instances.status === 'fulfilled') for (const i of instances.value) if (projectOf(i.workspace)) names.add(projectOf(i.workspace));
  if (llm.status === 'fulfilled') for (const p of Object.keys(llm.value.groups)) if (p) names.add(p);
  return [...names].sort();
}

interface Contract {
  kind: 'contract';
  endpoints?: Record<string, { request?: object; response?: object; response_array?: object; query?: object; response_status?: number }>;
}

function SpecView({ project, name }: { project: string; name: string }) {
  const spec = useLoad(async () => {
    const res = await request('GET', `/api/specs/${seg(project)}/${seg(name)}`);
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { text: json === undefined ? text : JSON.stringify(json, null, 2), json, version: res.headers.get('X-Koor-Version') ?? '' };
  }, [project, name]);
  const contract = spec.data?.json && typeof spec.data.json === 'object' && (spec.data.json as { kind?: unknown }).kind === 'contract' ? (spec.data.json as Contract) : null;
  const fields = (o: object | undefined) => (o ? Object.keys(o).join(', ') : '');
  return html`<p class="crumbs"><a href="#/specs">Specs</a> / <a href=${`#/specs/${seg(project)}`}>${project}</a> / <span aria-current="page">${name}</span></p>
    <h1>${name} ${contract ? html`<span class="badge">contract</span>` : null}</h1>
    <${Status} loading=${spec.loading && !spec.data} error=${spec.error} />
    ${spec.data ? html`<p class="muted small">Version ${spec.data.version}</p>` : null}
    ${contract?.endpoints
      ? html`<section class="panel" aria-labelledby="endpoints-h">
          <h2 id="endpoints-h">Endpoints</h2>
          <${TableWrap} label="Contract endpoints">
            <table>
              <thead><tr><th scope="col">Endpoint</th><th scope="col">Request</th><th scope="col">Query</th><th scope="col">Response</th><th scope="col">Status</th></tr></thead>
              <tbody>
                ${Object.entries(contract.endpoints).map(
                  ([ep, d]) => html`<tr><th scope="row"><code>${ep}</code></th><td>${fields(d.request)}</td><td>${fields(d.query)}</td><td>${fields(d.response ?? d.response_array)}${d.response_array ? ' (array)' : ''}</td><td>${d.response_status ?? ''}</td></tr>`,
                )}
              </tbody>
            </table>
          <//>
        </section>`
      : null}
    ${spec.data ? html`<section class="panel" aria-labelledby="spec-h"><h2 id="spec-h">Content</h2><pre class="value" tabindex="0" aria-label="Spec content">${spec.data.text}</pre></section>` : null}`;
}

function SpecList({ project }: { project: string }) {
  const list = useLoad(
    () => (project === '' ? Promise.resolve(null) : getJson<'GET /api/specs/{project}'>(`/api/specs/${seg(project)}`)),
    [project],
  );
  const specs = list.data?.specs ?? [];
  if (project === '') return null;
  return html`<${Status} loading=${list.loading && !list.data} error=${list.error} />
    ${specs.length === 0 && !list.loading
      ? html`<p class="muted">No specs in <strong>${project}</strong>.</p>`
      : html`<${TableWrap} label=${`Specs of ${project}`}>
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">Updated (UTC)</th></tr></thead>
            <tbody>${specs.map((s) => html`<tr key=${s.name}><th scope="row"><a href=${`#/specs/${seg(project)}/${seg(s.name)}`}>${s.name}</a></th><td class="num">${s.version}</td><td class="nowrap">${fmtTime(s.updated_at)}</td></tr>`)}</tbody>
          </table>
        <//>`}`;
}

export function SpecsPage({ project, name }: { project: string; name: string }) {
  const [typed, setTyped] = useState(project);
  useEffect(() => setTyped(project), [project]);
  const projects = useLoad(knownProjects, []);
  if (project !== '' && name !== '') return html`<${SpecView} project=${project} name=${name} />`;
  const open = (e: Event) => {
    e.preventDefault();
    location.hash = `#/specs/${seg(typed.trim())}`;
  };
  return html`<h1>Specs and contracts</h1>
    <form class="inline-form" onSubmit=${open}>
      <label for="spec-project">Project</label>
      <input id="spec-project" list="spec-projects" value=${typed} onInput=${(e: Event) => setTyped((e.target as HTMLInputElement).value)} required />
      <datalist id="spec-projects">${(projects.data ?? []).map((p) => html`<option value=${p} />`)}</datalist>
      <button type="submit">Show specs</button>
    </form>
    <${ErrorNote} error=${projects.error} />
    ${project === '' && (projects.data ?? []).length > 0
      ? html`<p class="muted">Known projects: ${(projects.data ?? []).map((p, i) => html`${i > 0 ? ', ' : ''}<a href=${`#/specs/${seg(p)}`}>${p}</a>`)}</p>`
      : null}
    <${SpecList} project=${project} />`;
}
