/**
 * Live leases (GET /api/leases) filtered by holder or by a glob they overlap, and "who holds this
 * file" (GET /api/leases/check?path=). Read-only: releasing needs the holder's identity.
 * Read again on `lease.acquired` and `lease.released` events (expiry included).
 */
import { useState } from 'preact/hooks';
import type { Lease } from '../../../schemas/http/leases.js';
import { getJson, query } from '../api.js';
import { ErrorNote, fmtTime, html, Status, TableWrap, useLoad, useOnEvents } from '../ui.js';

interface Filters {
  holder: string;
  resource: string;
}

const EMPTY: Filters = { holder: '', resource: '' };

function LeaseTable({ list, label }: { list: readonly Lease[]; label: string }) {
  return html`<${TableWrap} label=${label}>
    <table>
      <thead><tr><th scope="col">Holder</th><th scope="col">Resources</th><th scope="col">Mode</th><th scope="col">Reason</th><th scope="col">Acquired (UTC)</th><th scope="col">Expires (UTC)</th><th scope="col">Lease id</th></tr></thead>
      <tbody>
        ${list.map(
          (l) => html`<tr key=${l.id} data-lease=${l.id}>
            <th scope="row">${l.holder_name || html`<code class="small">${l.holder}</code>`}</th>
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

export function LeasesPage() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [path, setPath] = useState('');
  const [checked, setChecked] = useState('');
  const leases = useLoad(() => getJson<'GET /api/leases'>(`/api/leases${query({ ...applied })}`), [applied]);
  const agents = useLoad(() => getJson<'GET /api/instances'>('/api/instances'), []);
  const holders = useLoad(() => (checked === '' ? Promise.resolve(null) : getJson<'GET /api/leases/check'>(`/api/leases/check${query({ path: checked })}`)), [checked]);
  const reload = () => {
    leases.reload();
    if (checked !== '') holders.reload();
  };
  useOnEvents('lease.*', reload, 500);
  // A new agent may be about to take leases: the holder list follows the roster.
  useOnEvents('agent.*', () => agents.reload(), 1000);

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
  const list = leases.data ?? [];
  const known = agents.data ?? [];
  const filtered = applied.holder !== '' || applied.resource !== '';
  return html`<h1>Leases</h1>
    <form class="filters" onSubmit=${apply} aria-label="Filter the leases">
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
        <span class="hint" id="le-resource-hint">a path or glob</span>
      </div>
      <button type="submit" class="primary">Apply</button>
      <button type="button" onClick=${() => (setDraft(EMPTY), setApplied(EMPTY))}>Clear</button>
    </form>
    <${Status} loading=${leases.loading && !leases.data} error=${leases.error} />
    <section class="panel" aria-labelledby="le-list-h">
      <h2 id="le-list-h">Live leases <span class="count">${list.length}</span></h2>
      ${list.length === 0 && !leases.loading
        ? html`<p class="muted">${filtered ? 'No live lease matches.' : 'No agent holds a lease.'}</p>`
        : html`<${LeaseTable} list=${list} label="Live leases" />`}
    </section>
    <section class="panel" aria-labelledby="le-check-h">
      <h2 id="le-check-h">Who holds this file?</h2>
      <form class="inline-form" onSubmit=${check}>
        <label for="le-path">File path</label>
        <input id="le-path" placeholder="src/api/trucks.ts" value=${path} required onInput=${(e: Event) => setPath((e.target as HTMLInputElement).value)} />
        <button type="submit">Check</button>
      </form>
      <${ErrorNote} error=${holders.error} />
      ${checked !== '' && holders.data
        ? holders.data.length === 0
          ? html`<p class="muted" data-check="free">No lease covers <code>${checked}</code>.</p>`
          : html`<p data-check="held"><code>${checked}</code> is held by ${holders.data.map((l, i) => html`${i > 0 ? ', ' : ''}<strong>${l.holder_name || l.holder}</strong> (${l.exclusive ? 'exclusive' : 'shared'})`)}.</p>
              <${LeaseTable} list=${holders.data} label=${`Leases covering ${checked}`} />`
        : null}
    </section>`;
}
