/**
 * Rules: the proposals waiting for a decision (accept / reject), the accepted rules with filters,
 * add / edit (POST /api/rules/import upserts a rule as accepted) / delete, and an export.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Rule } from '../../../schemas/http/rules.js';
import { getJson, request, send, seg } from '../api.js';
import { download, ErrorNote, fmtTime, html, Status, TableWrap, useAction, useConfirm, useLoad } from '../ui.js';

interface Form {
  project: string;
  rule_id: string;
  severity: string;
  match_type: string;
  pattern: string;
  message: string;
  stack: string;
  applies_to: string;
  source: string;
}

const EMPTY: Form = { project: '', rule_id: '', severity: 'error', match_type: 'regex', pattern: '', message: '', stack: '', applies_to: '*', source: 'local' };

const toForm = (r: Rule): Form => ({ ...r, applies_to: r.applies_to.join(', ') });
const ruleName = (r: { project: string; rule_id: string }) => `${r.project}/${r.rule_id}`;

function Field({ id, label, value, onInput, required, readOnly, hint }: { id: string; label: string; value: string; onInput: (v: string) => void; required?: boolean; readOnly?: boolean; hint?: string }) {
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} value=${value} required=${required} readOnly=${readOnly} aria-describedby=${hint ? `${id}-hint` : undefined} onInput=${(e: Event) => onInput((e.target as HTMLInputElement).value)} />
    ${hint ? html`<span class="hint" id=${`${id}-hint`}>${hint}</span>` : null}
  </div>`;
}

function Select({ id, label, value, options, onInput }: { id: string; label: string; value: string; options: string[]; onInput: (v: string) => void }) {
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <select id=${id} value=${value} onChange=${(e: Event) => onInput((e.target as HTMLSelectElement).value)}>${options.map((o) => html`<option value=${o}>${o}</option>`)}</select>
  </div>`;
}

function RuleForm({ initial, editing, onSaved, onCancel }: { initial: Form; editing: boolean; onSaved: (name: string) => void; onCancel: () => void }) {
  const [f, setF] = useState<Form>(initial);
  const [error, busy, run] = useAction();
  // Reset when another rule is opened in the open form, never on mount: the effect runs after the
  // first paint, so a reset then wiped what was typed in the meantime (and a required field left
  // empty made the browser drop the submit without a word).
  const shown = useRef(initial);
  useEffect(() => {
    if (shown.current === initial) return;
    shown.current = initial;
    setF(initial);
  }, [initial]);
  const set = (k: keyof Form) => (v: string) => setF((x) => ({ ...x, [k]: v }));
  const save = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const rule = {
        ...f,
        applies_to: f.applies_to
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      };
      const r = await send<'POST /api/rules/import'>('POST', '/api/rules/import', [rule]);
      if (r.imported !== 1) throw new Error('The server skipped the rule: project, rule id and pattern are required.');
      onSaved(ruleName(f));
    });
  };
  return html`<form class="panel rule-form" onSubmit=${save} aria-labelledby="rule-form-h">
    <h2 id="rule-form-h">${editing ? `Edit ${ruleName(f)}` : 'Add a rule'}</h2>
    <div class="grid-form">
      <${Field} id="rf-project" label="Project" value=${f.project} onInput=${set('project')} required readOnly=${editing} hint="_global applies to every project" />
      <${Field} id="rf-rule" label="Rule id" value=${f.rule_id} onInput=${set('rule_id')} required readOnly=${editing} />
      <${Select} id="rf-severity" label="Severity" value=${f.severity} options=${['error', 'warning', 'info']} onInput=${set('severity')} />
      <${Select} id="rf-match" label="Match type" value=${f.match_type} options=${['regex', 'missing', 'custom']} onInput=${set('match_type')} />
      <${Field} id="rf-pattern" label="Pattern" value=${f.pattern} onInput=${set('pattern')} required hint="RE2 syntax, e.g. (?i)style\\s*=" />
      <${Field} id="rf-message" label="Message" value=${f.message} onInput=${set('message')} />
      <${Field} id="rf-stack" label="Stack" value=${f.stack} onInput=${set('stack')} hint="empty: every stack" />
      <${Field} id="rf-applies" label="Applies to" value=${f.applies_to} onInput=${set('applies_to')} hint="file globs, comma separated" />
      <${Field} id="rf-source" label="Source" value=${f.source} onInput=${set('source')} />
    </div>
    <${ErrorNote} error=${error} />
    <div class="actions">
      <button type="submit" class="primary" disabled=${busy}>${editing ? 'Save changes' : 'Add rule'}</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}

export function RulesPage() {
  const rules = useLoad(() => getJson<'GET /api/rules'>('/api/rules'), []);
  const [filter, setFilter] = useState({ project: '', stack: '', source: '', text: '' });
  const [form, setForm] = useState<{ initial: Form; editing: boolean } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirmEl, confirm] = useConfirm();
  const [error, busy, run] = useAction();
  // Proposals arrive from agents without an event: read again when the tab comes back.
  useEffect(() => {
    const on = () => document.visibilityState === 'visible' && rules.reload();
    document.addEventListener('visibilitychange', on);
    return () => document.removeEventListener('visibilitychange', on);
  }, []);

  const all = rules.data ?? [];
  const proposed = all.filter((r) => r.status === 'proposed');
  const rejected = all.filter((r) => r.status === 'rejected');
  const accepted = all.filter((r) => r.status === 'accepted');
  const sources = useMemo(() => [...new Set(accepted.map((r) => r.source))].sort(), [rules.data]);
  const stacks = useMemo(() => [...new Set(accepted.map((r) => r.stack).filter((s) => s !== ''))].sort(), [rules.data]);
  const text = filter.text.toLowerCase();
  const shown = accepted.filter(
    (r) =>
      (filter.project === '' || r.project.toLowerCase().includes(filter.project.toLowerCase())) &&
      (filter.stack === '' || r.stack === filter.stack) &&
      (filter.source === '' || r.source === filter.source) &&
      (text === '' || `${r.rule_id} ${r.pattern} ${r.message}`.toLowerCase().includes(text)),
  );

  const decide = (r: Rule, verdict: 'accept' | 'reject') =>
    run(async () => {
      await send('POST', `/api/rules/${seg(r.project)}/${seg(r.rule_id)}/${verdict}`);
      setNotice(`${ruleName(r)} ${verdict === 'accept' ? 'accepted: it fires from now on' : 'rejected'}.`);
      rules.reload();
    });
  const remove = async (r: Rule) => {
    if (!(await confirm(`Delete the rule ${ruleName(r)}? This cannot be undone.`, 'Delete rule'))) return;
    await run(async () => {
      await send('DELETE', `/api/rules/${seg(r.project)}/${seg(r.rule_id)}`);
      setNotice(`${ruleName(r)} deleted.`);
      rules.reload();
    });
  };
  const exportRules = () =>
    run(async () => {
      const list = sources.length > 0 ? sources.join(',') : 'local,learned';
      const res = await request('GET', `/api/rules/export?source=${encodeURIComponent(list)}`);
      download('koor-rules.json', new Blob([JSON.stringify(await res.json(), null, 2)], { type: 'application/json' }));
    });

  return html`<h1>Rules</h1>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    <${ErrorNote} error=${error} />
    <${Status} loading=${rules.loading && !rules.data} error=${rules.error} />
    <section class="panel" aria-labelledby="proposed-h">
      <div class="panel-head">
        <h2 id="proposed-h">Proposed <span class="count">${proposed.length}</span></h2>
        <button type="button" onClick=${() => rules.reload()}>Refresh</button>
      </div>
      ${proposed.length === 0
        ? html`<p class="muted">Nothing waits for a decision. Agents propose rules with the MCP tool <code>propose_rule</code>; a proposed rule never fires until accepted.</p>`
        : html`<${TableWrap} label="Proposed rules">
            <table class="rules">
              <thead><tr><th scope="col">Rule</th><th scope="col">Pattern</th><th scope="col">Message</th><th scope="col">Applies to</th><th scope="col">Proposed by · why</th><th scope="col"><span class="sr-only">Decision</span></th></tr></thead>
              <tbody>
                ${proposed.map(
                  (r) => html`<tr key=${ruleName(r)} data-rule=${ruleName(r)}>
                    <th scope="row">${ruleName(r)}<br /><span class=${`badge sev-${r.severity}`}>${r.severity}</span></th>
                    <td><code>${r.pattern}</code></td>
                    <td>${r.message}</td>
                    <td>${r.applies_to.join(', ')}</td>
                    <td>${r.proposed_by || '—'}${r.context ? html`<br /><span class="muted small">${r.context}</span>` : null}</td>
                    <td class="actions">
                      <button type="button" class="primary" disabled=${busy} aria-label=${`Accept ${ruleName(r)}`} onClick=${() => decide(r, 'accept')}>Accept</button>
                      <button type="button" class="danger" disabled=${busy} aria-label=${`Reject ${ruleName(r)}`} onClick=${() => decide(r, 'reject')}>Reject</button>
                    </td>
                  </tr>`,
                )}
              </tbody>
            </table>
          <//>`}
    </section>

    ${form ? html`<${RuleForm} initial=${form.initial} editing=${form.editing} onCancel=${() => setForm(null)} onSaved=${(name: string) => (setNotice(`${name} ${form.editing ? 'saved' : 'added'} (accepted).`), setForm(null), rules.reload())} />` : null}

    <section class="panel" aria-labelledby="accepted-h">
      <div class="panel-head">
        <h2 id="accepted-h">Accepted <span class="count">${shown.length === accepted.length ? accepted.length : `${shown.length} of ${accepted.length}`}</span></h2>
        <div class="controls">
          <button type="button" class="primary" onClick=${() => setForm({ initial: { ...EMPTY }, editing: false })}>Add rule</button>
          <button type="button" disabled=${busy || accepted.length === 0} onClick=${exportRules}>Export JSON</button>
        </div>
      </div>
      <div class="filters" role="group" aria-label="Filter accepted rules">
        <div class="field"><label for="rf-f-project">Project</label><input id="rf-f-project" type="search" value=${filter.project} onInput=${(e: Event) => setFilter({ ...filter, project: (e.target as HTMLInputElement).value })} /></div>
        <div class="field"><label for="rf-f-stack">Stack</label><select id="rf-f-stack" value=${filter.stack} onChange=${(e: Event) => setFilter({ ...filter, stack: (e.target as HTMLSelectElement).value })}><option value="">any</option>${stacks.map((s) => html`<option value=${s}>${s}</option>`)}</select></div>
        <div class="field"><label for="rf-f-source">Source</label><select id="rf-f-source" value=${filter.source} onChange=${(e: Event) => setFilter({ ...filter, source: (e.target as HTMLSelectElement).value })}><option value="">any</option>${sources.map((s) => html`<option value=${s}>${s}</option>`)}</select></div>
        <div class="field"><label for="rf-f-text">Text</label><input id="rf-f-text" type="search" value=${filter.text} placeholder="id, pattern or message" onInput=${(e: Event) => setFilter({ ...filter, text: (e.target as HTMLInputElement).value })} /></div>
      </div>
      ${shown.length === 0
        ? html`<p class="muted">${accepted.length === 0 ? 'No accepted rules yet.' : 'No rule matches the filters.'}</p>`
        : html`<${TableWrap} label="Accepted rules">
            <table class="rules">
              <thead><tr><th scope="col">Rule</th><th scope="col">Severity</th><th scope="col">Pattern</th><th scope="col">Message</th><th scope="col">Stack</th><th scope="col">Applies to</th><th scope="col">Source</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                ${shown.map(
                  (r) => html`<tr key=${ruleName(r)} data-rule=${ruleName(r)}>
                    <th scope="row">${ruleName(r)}${r.created_at ? html`<br /><span class="muted small">${fmtTime(r.created_at)}</span>` : null}</th>
                    <td><span class=${`badge sev-${r.severity}`}>${r.severity}</span></td>
                    <td><code>${r.pattern}</code>${r.match_type !== 'regex' ? html` <span class="muted small">(${r.match_type})</span>` : null}</td>
                    <td>${r.message}</td>
                    <td>${r.stack || html`<span class="muted">any</span>`}</td>
                    <td>${r.applies_to.join(', ')}</td>
                    <td>${r.source}</td>
                    <td class="actions">
                      <button type="button" aria-label=${`Edit ${ruleName(r)}`} onClick=${() => setForm({ initial: toForm(r), editing: true })}>Edit</button>
                      <button type="button" class="danger" disabled=${busy} aria-label=${`Delete ${ruleName(r)}`} onClick=${() => remove(r)}>Delete</button>
                    </td>
                  </tr>`,
                )}
              </tbody>
            </table>
          <//>`}
    </section>

    ${rejected.length > 0
      ? html`<details class="panel">
          <summary>Rejected <span class="count">${rejected.length}</span></summary>
          <ul class="plain">${rejected.map((r) => html`<li key=${ruleName(r)}>${ruleName(r)} <code>${r.pattern}</code> <button type="button" class="danger small" aria-label=${`Delete ${ruleName(r)}`} onClick=${() => remove(r)}>Delete</button></li>`)}</ul>
        </details>`
      : null}
    ${confirmEl}`;
}
