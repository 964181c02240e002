/** Webhooks with their delivery state; add, test, delete. */
import { useState } from 'preact/hooks';
import type { Webhook } from '../../../schemas/http/webhooks.js';
import { getJson, send, seg } from '../api.js';
import { ErrorNote, fmtInt, fmtTime, html, Status, TableWrap, useAction, useConfirm, useLoad, useOnEvents, useVisibleInterval } from '../ui.js';

/** Delivery counters move without events of their own: read again this often while visible. */
const REFRESH_MS = 10_000;

export function WebhooksPage() {
  const hooks = useLoad(() => getJson<'GET /api/webhooks'>('/api/webhooks'), []);
  const [form, setForm] = useState({ id: '', url: '', patterns: '*', secret: '' });
  const [notice, setNotice] = useState<string | null>(null);
  const [confirmEl, confirm] = useConfirm();
  const [error, busy, run] = useAction();
  useVisibleInterval(() => hooks.reload(), REFRESH_MS);
  // Every event may be one a webhook has yet to receive: the pending counts change.
  useOnEvents('*', () => hooks.reload(), 2000);

  const add = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const patterns = form.patterns
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      await send('POST', '/api/webhooks', { id: form.id.trim(), url: form.url.trim(), patterns, secret: form.secret });
      setNotice(`Webhook ${form.id} added.`);
      setForm({ id: '', url: '', patterns: '*', secret: '' });
      hooks.reload();
    });
  };
  const test = (w: Webhook) =>
    run(async () => {
      await send('POST', `/api/webhooks/${seg(w.id)}/test`);
      setNotice(`Test delivery to ${w.id} succeeded.`);
    });
  const remove = async (w: Webhook) => {
    if (!(await confirm(`Delete the webhook ${w.id} (${w.url})?`, 'Delete webhook'))) return;
    await run(async () => {
      await send('DELETE', `/api/webhooks/${seg(w.id)}`);
      setNotice(`Webhook ${w.id} deleted.`);
      hooks.reload();
    });
  };
  const list = hooks.data ?? [];
  const field = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  return html`<h1>Webhooks</h1>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    <${ErrorNote} error=${error} />
    <${Status} loading=${hooks.loading && !hooks.data} error=${hooks.error} />
    <section class="panel" aria-labelledby="hooks-h">
      <h2 id="hooks-h">Delivery state <span class="count">${list.length}</span></h2>
      ${list.length === 0
        ? html`<p class="muted">No webhooks. Every event whose topic matches a webhook's patterns is POSTed to its URL.</p>`
        : html`<${TableWrap} label="Webhooks">
            <table>
              <thead><tr><th scope="col">Webhook</th><th scope="col">Patterns</th><th scope="col">State</th><th scope="col">Pending</th><th scope="col">Delivered</th><th scope="col">Failed</th><th scope="col">Last delivered (UTC)</th><th scope="col">Last error</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                ${list.map(
                  (w) => html`<tr key=${w.id} data-webhook=${w.id} class=${w.active ? '' : 'is-stale'}>
                    <th scope="row">${w.id}<br /><code class="small">${w.url}</code>${w.has_secret ? html` <span class="badge" title="Deliveries are signed (X-Koor-Signature)">signed</span>` : null}</th>
                    <td>${w.patterns.map((p) => html`<code class="tag">${p}</code> `)}</td>
                    <td><span class=${`badge ${w.active ? 'status-active' : 'status-stale'}`}>${w.active ? 'active' : 'disabled'}</span>${w.fail_count > 0 ? html`<br /><span class="small">${w.fail_count} failing in a row</span>` : null}</td>
                    <td class="num">${fmtInt(w.pending)}</td>
                    <td class="num">${fmtInt(w.delivered)}</td>
                    <td class="num">${fmtInt(w.failed)}</td>
                    <td class="nowrap">${fmtTime(w.last_fired)}</td>
                    <td>${w.last_error ? html`<span class="error-text">${w.last_error}</span>` : html`<span class="muted">—</span>`}</td>
                    <td class="actions">
                      <button type="button" disabled=${busy} aria-label=${`Send a test to ${w.id}`} onClick=${() => test(w)}>Test</button>
                      <button type="button" class="danger" disabled=${busy} aria-label=${`Delete ${w.id}`} onClick=${() => remove(w)}>Delete</button>
                    </td>
                  </tr>`,
                )}
              </tbody>
            </table>
          <//>`}
    </section>
    <form class="panel" onSubmit=${add} aria-labelledby="hook-add-h">
      <h2 id="hook-add-h">Add a webhook</h2>
      <div class="grid-form">
        <div class="field"><label for="wh-id">Id</label><input id="wh-id" required value=${form.id} onInput=${field('id')} /></div>
        <div class="field wide"><label for="wh-url">URL</label><input id="wh-url" type="url" required value=${form.url} placeholder="http://ci.local/koor" onInput=${field('url')} /></div>
        <div class="field"><label for="wh-patterns">Topic patterns</label><input id="wh-patterns" value=${form.patterns} aria-describedby="wh-patterns-hint" onInput=${field('patterns')} /><span class="hint" id="wh-patterns-hint">comma separated globs</span></div>
        <div class="field"><label for="wh-secret">Secret (optional)</label><input id="wh-secret" type="password" autocomplete="off" value=${form.secret} onInput=${field('secret')} /></div>
      </div>
      <div class="actions"><button type="submit" class="primary" disabled=${busy}>Add webhook</button></div>
    </form>
    ${confirmEl}`;
}
