/** The audit log with its filters (actor, action, from, to, limit) and the summary of the span. */
import { useState } from 'preact/hooks';
import { getJson, query } from '../api.js';
import { fmtInt, fmtTime, html, Status, TableWrap, useLoad } from '../ui.js';

interface Filters {
  actor: string;
  action: string;
  from: string;
  to: string;
  limit: string;
}

const EMPTY: Filters = { actor: '', action: '', from: '', to: '', limit: '100' };

export function AuditPage() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const span = { from: applied.from, to: applied.to };
  const entries = useLoad(() => getJson<'GET /api/audit'>(`/api/audit${query({ ...applied })}`), [applied]);
  const summary = useLoad(() => getJson<'GET /api/audit/summary'>(`/api/audit/summary${query(span)}`), [applied.from, applied.to]);
  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
  const apply = (e: Event) => {
    e.preventDefault();
    setApplied({ ...draft });
  };
  const actions = Object.keys(summary.data?.action_counts ?? {});
  const list = entries.data ?? [];
  return html`<h1>Audit log</h1>
    <form class="filters" onSubmit=${apply} aria-label="Filter the audit log">
      <div class="field"><label for="au-actor">Actor</label><input id="au-actor" value=${draft.actor} onInput=${set('actor')} /></div>
      <div class="field">
        <label for="au-action">Action</label>
        <input id="au-action" list="au-actions" value=${draft.action} onInput=${set('action')} />
        <datalist id="au-actions">${actions.map((a) => html`<option value=${a} />`)}</datalist>
      </div>
      <div class="field"><label for="au-from">From (UTC)</label><input id="au-from" placeholder="2026-01-31 or RFC 3339" value=${draft.from} onInput=${set('from')} /></div>
      <div class="field"><label for="au-to">To (UTC)</label><input id="au-to" placeholder="2026-02-01 12:00:00" value=${draft.to} onInput=${set('to')} /></div>
      <div class="field"><label for="au-limit">Entries</label><select id="au-limit" value=${draft.limit} onChange=${set('limit')}>${['50', '100', '500', '1000', '5000'].map((n) => html`<option value=${n}>${n}</option>`)}</select></div>
      <button type="submit" class="primary">Apply</button>
      <button type="button" onClick=${() => (setDraft(EMPTY), setApplied(EMPTY))}>Clear</button>
    </form>
    ${summary.data
      ? html`<section class="panel" aria-labelledby="au-sum-h">
          <h2 id="au-sum-h">In this span</h2>
          <dl class="figures">
            <div class="figure"><dt>Entries</dt><dd>${fmtInt(summary.data.total_entries)}</dd></div>
            <div class="figure"><dt>Actors</dt><dd>${fmtInt(summary.data.unique_actors)}</dd></div>
            <div class="figure"><dt>Resources</dt><dd>${fmtInt(summary.data.unique_resources)}</dd></div>
            ${Object.entries(summary.data.action_counts).map(([a, n]) => html`<div class="figure"><dt><code>${a}</code></dt><dd>${fmtInt(n)}</dd></div>`)}
          </dl>
        </section>`
      : null}
    <${Status} loading=${entries.loading && !entries.data} error=${entries.error ?? summary.error} />
    <section class="panel" aria-label="Entries">
    ${list.length === 0 && !entries.loading
      ? html`<p class="muted">No audit entries match.</p>`
      : html`<${TableWrap} label="Audit entries">
          <table>
            <thead><tr><th scope="col">#</th><th scope="col">When (UTC)</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Resource</th><th scope="col">Detail</th><th scope="col">Outcome</th></tr></thead>
            <tbody>
              ${list.map(
                (e) => html`<tr key=${e.id}>
                  <td class="num">${e.id}</td>
                  <td class="nowrap">${fmtTime(e.timestamp)}</td>
                  <td>${e.actor || html`<span class="muted">—</span>`}</td>
                  <td><code>${e.action}</code></td>
                  <td><code class="small">${e.resource}</code></td>
                  <td><code class="small">${e.detail === '{}' ? '' : e.detail}</code></td>
                  <td>${e.outcome}</td>
                </tr>`,
              )}
            </tbody>
          </table>
        <//>`}
    </section>`;
}
