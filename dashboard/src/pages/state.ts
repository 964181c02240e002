/**
 * State: keys in pages (GET /api/state with `after`), one key's value (pretty JSON, text, or a
 * download for binary), its version history, a diff between two versions, and a rollback.
 */
import { useEffect, useState } from 'preact/hooks';
import type { StateDiff, StateDiffReply, StateEntry, StateHistoryReply } from '../../../schemas/http/state.js';
import { getJson, query, request, send } from '../api.js';
import { brief, download, ErrorNote, fmtBytes, fmtTime, html, Status, TableWrap, useAction, useConfirm, useLoad } from '../ui.js';

const PAGE_KEYS = 50;
/** Values larger than this are shown cut (the download has all of it). */
const SHOW_MAX_BYTES = 1024 * 1024;

/** A key as a URL path (its `/` kept as separators; the server decodes the rest of the path). */
const keyPath = (key: string): string => key.split('/').map(encodeURIComponent).join('/');
const keyHref = (key: string): string => `#/state/${keyPath(key)}`;
const keyUrl = (key: string, q = ''): string => `/api/state/${keyPath(key)}${q}`;

function KeyList() {
  // The `after` of each page seen, so Previous goes back without the server keeping anything.
  const [pages, setPages] = useState<string[]>(['']);
  const [jump, setJump] = useState('');
  const after = pages[pages.length - 1]!;
  const list = useLoad(async () => {
    const res = await request('GET', `/api/state${query({ limit: PAGE_KEYS, after })}`);
    return { keys: (await res.json()) as StateEntry[], more: (res.headers.get('Link') ?? '').includes('rel="next"') };
  }, [after]);
  const keys = list.data?.keys ?? [];
  const go = (e: Event) => {
    e.preventDefault();
    // Keys sort bytewise; `after` is exclusive, so step just before the text typed.
    setPages(jump === '' ? [''] : ['', jump.slice(0, -1) + String.fromCharCode(Math.max(0, jump.charCodeAt(jump.length - 1) - 1)) + '\uffff']);
  };
  return html`<h1>State</h1>
    <form class="inline-form" onSubmit=${go}>
      <label for="state-jump">Go to keys from</label>
      <input id="state-jump" type="search" value=${jump} placeholder="key prefix" onInput=${(e: Event) => setJump((e.target as HTMLInputElement).value)} />
      <button type="submit">Go</button>
    </form>
    <${Status} loading=${list.loading && !list.data} error=${list.error} />
    ${keys.length === 0 && !list.loading
      ? html`<p class="muted">No keys${after ? ' from here' : ''}. Write one: <code>koor-cli state set demo/config --data '{"a":1}'</code></p>`
      : html`<${TableWrap} label="State keys">
          <table>
            <thead><tr><th scope="col">Key</th><th scope="col">Version</th><th scope="col">Content type</th><th scope="col">Updated (UTC)</th></tr></thead>
            <tbody>
              ${keys.map((k) => html`<tr key=${k.key}><th scope="row"><a href=${keyHref(k.key)}>${k.key}</a></th><td class="num">${k.version}</td><td>${k.content_type}</td><td class="nowrap">${fmtTime(k.updated_at)}</td></tr>`)}
            </tbody>
          </table>
        <//>`}
    <div class="pager">
      <button type="button" disabled=${pages.length < 2} onClick=${() => setPages(pages.slice(0, -1))}>Previous page</button>
      <button type="button" disabled=${!list.data?.more} onClick=${() => setPages([...pages, keys[keys.length - 1]!.key])}>Next page</button>
    </div>`;
}

interface Value {
  version: string;
  type: string;
  bytes: number;
  /** Pretty JSON or text; null for binary. */
  text: string | null;
  cut: boolean;
  blob: Blob;
}

const TEXT_TYPE = /^text\/|json|xml|javascript|yaml|toml|csv|x-www-form-urlencoded/i;
/** Control characters other than tab, newline, carriage return: a sign of binary data. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/** UTF-8 text without control characters, or null (binary: offered as a download). */
function asText(bytes: Uint8Array, type: string): string | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // A value cut in the middle of a character still reads as text if its type says so.
    if (!TEXT_TYPE.test(type)) return null;
    text = new TextDecoder('utf-8').decode(bytes);
  }
  return TEXT_TYPE.test(type) || !CONTROL.test(text) ? text : null;
}

async function readValue(res: Response): Promise<Value> {
  const type = res.headers.get('Content-Type') ?? 'application/octet-stream';
  const blob = await res.blob();
  const version = res.headers.get('X-Koor-Version') ?? '';
  const cut = blob.size > SHOW_MAX_BYTES;
  let text = asText(new Uint8Array(await (cut ? blob.slice(0, SHOW_MAX_BYTES) : blob).arrayBuffer()), type);
  if (text !== null && !cut && (/json/i.test(type) || /^\s*[[{]/.test(text))) {
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Not valid JSON after all: shown as stored.
    }
  }
  return { version, type, bytes: blob.size, text, cut: text !== null && cut, blob };
}

function ValueView({ k, v, label }: { k: string; v: Value; label: string }) {
  const file = k.replace(/[^\w.-]+/g, '_');
  return html`<section class="panel" aria-labelledby="value-h">
    <div class="panel-head">
      <h2 id="value-h">${label}</h2>
      <button type="button" onClick=${() => download(`${file}.v${v.version}`, v.blob)}>Download</button>
    </div>
    <p class="muted small">Version <span data-value-version>${v.version}</span> · ${v.type} · ${fmtBytes(v.bytes)}</p>
    ${v.text === null
      ? html`<p>Binary value: use Download to save it.</p>`
      : html`<pre class="value" tabindex="0" aria-label="Value">${v.text}</pre>${v.cut ? html`<p class="muted small">Showing the first ${fmtBytes(SHOW_MAX_BYTES)}; Download has all of it.</p>` : null}`}
  </section>`;
}

function DiffView({ diffs }: { diffs: StateDiff[] }) {
  if (diffs.length === 0) return html`<p class="muted">The two versions are equal.</p>`;
  return html`<${TableWrap} label="Differences">
    <table class="diff">
      <thead><tr><th scope="col">Path</th><th scope="col">Change</th><th scope="col">Old</th><th scope="col">New</th></tr></thead>
      <tbody>
        ${diffs.map(
          (d) => html`<tr class=${`diff-${d.kind}`}><th scope="row"><code>${d.path}</code></th><td>${d.kind}</td><td><code>${'old' in d ? brief(JSON.stringify(d.old), 300) : ''}</code></td><td><code>${'new' in d ? brief(JSON.stringify(d.new), 300) : ''}</code></td></tr>`,
        )}
      </tbody>
    </table>
  <//>`;
}

function KeyView({ k }: { k: string }) {
  const [shown, setShown] = useState<number | null>(null);
  const [pair, setPair] = useState<{ a: number | null; b: number | null }>({ a: null, b: null });
  const [diff, setDiff] = useState<{ a: number; b: number; diffs: StateDiff[] } | null>(null);
  const [confirmEl, confirm] = useConfirm();
  const [actionError, busy, run, setActionError] = useAction();
  const [notice, setNotice] = useState<string | null>(null);
  const current = useLoad(async () => readValue(await request('GET', keyUrl(k))), [k]);
  const old = useLoad(async () => (shown === null ? null : readValue(await request('GET', keyUrl(k, `?version=${shown}`)))), [k, shown]);
  // ?history= and ?diff= change the route's reply: which one, the mode says (the cast picks one of the route's replies).
  const history = useLoad(() => getJson<'GET /api/state/{key}'>(keyUrl(k, '?history=1&limit=100')) as Promise<StateHistoryReply>, [k]);
  useEffect(() => {
    setShown(null);
    setDiff(null);
    setPair({ a: null, b: null });
    setNotice(null);
  }, [k]);
  const versions = history.data?.versions ?? [];
  const latest = versions[0]?.version ?? null;
  useEffect(() => {
    // Preselect the two newest versions for a diff.
    if (versions.length >= 2 && pair.a === null && pair.b === null) setPair({ a: versions[1]!.version, b: versions[0]!.version });
  }, [history.data]);

  const showDiff = () =>
    run(async () => {
      if (pair.a === null || pair.b === null) throw new Error('Choose two versions (A and B) first.');
      const r = (await getJson<'GET /api/state/{key}'>(keyUrl(k, `?diff=${pair.a},${pair.b}`))) as StateDiffReply;
      setDiff({ a: pair.a, b: pair.b, diffs: r.diffs });
    });
  const rollback = async (v: number) => {
    setActionError(null);
    if (!(await confirm(`Write version ${v} of "${k}" again, as a new version? The current value stays in the history.`, `Roll back to v${v}`))) return;
    const ok = await run(async () => {
      const r = await send<'POST /api/state/{key}'>('POST', keyUrl(k, `?rollback=${v}`));
      setNotice(`Rolled back: version ${r.version} now holds the value of version ${v}.`);
    });
    if (ok) {
      setShown(null);
      setDiff(null);
      setPair({ a: null, b: null });
      current.reload();
      history.reload();
    }
  };

  return html`<p class="crumbs"><a href="#/state">State</a> / <span aria-current="page">${k}</span></p>
    <h1 class="key-title">${k}</h1>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    <${ErrorNote} error=${actionError} />
    <${Status} loading=${current.loading && !current.data} error=${current.error} />
    ${current.data ? html`<${ValueView} k=${k} v=${current.data} label="Current value" />` : null}
    ${old.data ? html`<${ValueView} k=${k} v=${old.data} label=${`Version ${shown}`} />` : null}
    <section class="panel" aria-labelledby="history-h">
      <div class="panel-head">
        <h2 id="history-h">History</h2>
        <button type="button" class="primary" disabled=${busy || versions.length < 2} onClick=${showDiff}>Diff A → B</button>
      </div>
      <${Status} loading=${history.loading && !history.data} error=${history.error} />
      <${TableWrap} label="Versions">
        <table class="history">
          <thead><tr><th scope="col">Version</th><th scope="col">A</th><th scope="col">B</th><th scope="col">Updated (UTC)</th><th scope="col">By</th><th scope="col">Hash</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            ${versions.map(
              (v) => html`<tr key=${v.version} data-version=${v.version}>
                <th scope="row">v${v.version}${v.version === latest ? html` <span class="badge">current</span>` : null}</th>
                <td><input type="radio" name="diff-a" aria-label=${`Version ${v.version} as A`} checked=${pair.a === v.version} onChange=${() => setPair({ ...pair, a: v.version })} /></td>
                <td><input type="radio" name="diff-b" aria-label=${`Version ${v.version} as B`} checked=${pair.b === v.version} onChange=${() => setPair({ ...pair, b: v.version })} /></td>
                <td class="nowrap">${fmtTime(v.updated_at)}</td>
                <td>${v.updated_by || html`<span class="muted">—</span>`}</td>
                <td><code class="small" title=${v.hash}>${v.hash.slice(0, 12)}</code></td>
                <td class="actions">
                  <button type="button" onClick=${() => setShown(v.version === shown ? null : v.version)} aria-pressed=${shown === v.version ? 'true' : 'false'}>View</button>
                  ${v.version !== latest ? html`<button type="button" class="danger" disabled=${busy} onClick=${() => rollback(v.version)}>Roll back</button>` : null}
                </td>
              </tr>`,
            )}
          </tbody>
        </table>
      <//>
    </section>
    ${diff
      ? html`<section class="panel" aria-labelledby="diff-h" aria-live="polite">
          <h2 id="diff-h">Diff v${diff.a} → v${diff.b}</h2>
          <${DiffView} diffs=${diff.diffs} />
        </section>`
      : null}
    ${confirmEl}`;
}

export function StatePage({ keyPath: k }: { keyPath: string }) {
  return k === '' ? html`<${KeyList} />` : html`<${KeyView} k=${k} />`;
}

