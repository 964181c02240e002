/** Compliance history (contracts of active agents), filtered by agent; a pass on demand. */
import { useState } from 'preact/hooks';
import { getJson, query, send } from '../api.js';
import { ErrorNote, fmtTime, html, Status, TableWrap, useAction, useLoad, useOnEvents } from '../ui.js';

export function CompliancePage() {
  const [instance, setInstance] = useState('');
  const [limit, setLimit] = useState(100);
  const runs = useLoad(() => getJson<'GET /api/compliance/history'>(`/api/compliance/history${query({ instance_id: instance, limit })}`), [instance, limit]);
  const agents = useLoad(() => getJson<'GET /api/instances'>('/api/instances'), []);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, busy, run] = useAction();
  useOnEvents('compliance.*', () => runs.reload());
  const names = new Map((agents.data ?? []).map((a) => [a.id, a.name]));
  const runNow = () =>
    run(async () => {
      const r = await send<'POST /api/compliance/run'>('POST', '/api/compliance/run');
      const failed = r.runs.filter((x) => !x.pass).length;
      setNotice(`Pass done: ${r.count} contract check${r.count === 1 ? '' : 's'}, ${failed} failing.`);
      runs.reload();
    });
  const list = runs.data ?? [];
  return html`<h1>Compliance</h1>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    <${ErrorNote} error=${error} />
    <div class="filters" role="group" aria-label="Filter compliance runs">
      <div class="field">
        <label for="cp-instance">Agent</label>
        <select id="cp-instance" value=${instance} onChange=${(e: Event) => setInstance((e.target as HTMLSelectElement).value)}>
          <option value="">all agents</option>
          ${(agents.data ?? []).map((a) => html`<option value=${a.id}>${a.name} (${a.id.slice(0, 8)})</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="cp-limit">Runs</label>
        <select id="cp-limit" value=${String(limit)} onChange=${(e: Event) => setLimit(Number((e.target as HTMLSelectElement).value))}>${[50, 100, 500, 1000].map((n) => html`<option value=${n}>${n}</option>`)}</select>
      </div>
      <button type="button" class="primary" disabled=${busy} onClick=${runNow}>Run a pass now</button>
    </div>
    <${Status} loading=${runs.loading && !runs.data} error=${runs.error} />
    <section class="panel" aria-label="Runs">
    ${list.length === 0 && !runs.loading
      ? html`<p class="muted">No compliance runs yet. A pass checks the contracts (specs with <code>"kind":"contract"</code>) of each active agent's workspace.</p>`
      : html`<${TableWrap} label="Compliance runs">
          <table>
            <thead><tr><th scope="col">#</th><th scope="col">When (UTC)</th><th scope="col">Agent</th><th scope="col">Contract</th><th scope="col">Result</th><th scope="col">Violations</th></tr></thead>
            <tbody>
              ${list.map(
                (r) => html`<tr key=${r.id} class=${r.pass ? '' : 'is-stale'}>
                  <td class="num">${r.id}</td>
                  <td class="nowrap">${fmtTime(r.run_at)}</td>
                  <td>${names.get(r.instance_id) ?? html`<code class="small">${r.instance_id.slice(0, 8)}</code>`}</td>
                  <td>${r.project}/${r.contract}</td>
                  <td><span class=${`badge ${r.pass ? 'status-active' : 'status-stale'}`}>${r.pass ? 'pass' : 'fail'}</span></td>
                  <td>${r.violations.length === 0 ? html`<span class="muted">—</span>` : html`<ul class="plain small">${r.violations.map((v) => html`<li><code>${v.path}</code> ${v.message}</li>`)}</ul>`}</td>
                </tr>`,
              )}
            </tbody>
          </table>
        <//>`}
    </section>`;
}
