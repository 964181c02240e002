/**
 * Koor dashboard: a client of the public REST API and the event WebSocket, like any script.
 * Hash routes (`#/rules`), so the server serves one page and never a route per view.
 */
import './style.css';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { MetricsReply } from '../../schemas/http/system.js';
import { ApiError, getJson, getToken, onUnauthorized, setToken } from './api.js';
import { LiveStream, type LiveState } from './live.js';
import { html, LiveContext, message } from './ui.js';
import { Overview } from './pages/overview.js';
import { StatePage } from './pages/state.js';
import { SpecsPage } from './pages/specs.js';
import { RulesPage } from './pages/rules.js';
import { WebhooksPage } from './pages/webhooks.js';
import { CompliancePage } from './pages/compliance.js';
import { AuditPage } from './pages/audit.js';
import { LlmPage } from './pages/llm.js';
import { LeasesPage } from './pages/leases.js';
import { TasksPage } from './pages/tasks.js';
import { InboxPage } from './pages/inbox.js';

type TeamModule = typeof import('./pages/team.js');
let teamModule: Promise<TeamModule> | null = null;

/** The team page is its own chunk, loaded when first opened: the other pages do not carry its weight. */
function TeamRoute({ project }: { project: string }) {
  const [mod, setMod] = useState<TeamModule | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    (teamModule ??= import('./pages/team.js')).then(setMod, (e: unknown) => {
      teamModule = null;
      setError(message(e));
    });
  }, []);
  if (mod) return html`<${mod.TeamPage} project=${project} />`;
  return html`<h1>Team</h1>${error ? html`<p class="error" role="alert">The page could not load: ${error}</p>` : html`<p class="muted">Loading…</p>`}`;
}

const PAGES = [
  { path: '', label: 'Overview' },
  { path: 'state', label: 'State' },
  { path: 'specs', label: 'Specs' },
  { path: 'rules', label: 'Rules' },
  { path: 'leases', label: 'Leases' },
  { path: 'tasks', label: 'Tasks' },
  { path: 'team', label: 'Team' },
  { path: 'inbox', label: 'Inbox' },
  { path: 'webhooks', label: 'Webhooks' },
  { path: 'compliance', label: 'Compliance' },
  { path: 'audit', label: 'Audit' },
  { path: 'llm', label: 'LLM cost' },
] as const;

/** `#/state/a%2Fb` → ['state', 'a/b']. */
function parseHash(): string[] {
  const h = location.hash.replace(/^#\/?/, '');
  if (h === '') return [''];
  return h.split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
}

function useRoute(): string[] {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

type Boot = { phase: 'checking' } | { phase: 'token'; note: string | null } | { phase: 'ready'; metrics: MetricsReply } | { phase: 'unreachable'; error: string };

function TokenPrompt({ note, onDone }: { note: string | null; onDone: (m: MetricsReply) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    const candidate = value.trim();
    if (candidate === '') return setError('Enter the token first.');
    setBusy(true);
    setError(null);
    try {
      const m = await getJson<'GET /api/metrics'>('/api/metrics', { token: candidate, quiet401: true });
      setToken(candidate);
      onDone(m);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'The server refused this token. Check it (koor-server --auth-token or KOOR_AUTH_TOKEN) and try again.' : `Could not check the token: ${message(err)}`);
      input.current?.select();
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="token-page" id="main">
    <form class="card token-form" onSubmit=${submit} aria-describedby="token-help">
      <h1>Koor dashboard</h1>
      ${note ? html`<p class="error" role="alert">${note}</p>` : null}
      <p id="token-help">This server asks for its access token. It is kept for this browser tab only and sent to this server alone.</p>
      <label for="token">Access token</label>
      <input id="token" ref=${input} type="password" autocomplete="off" spellcheck=${false} value=${value} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} aria-invalid=${error ? 'true' : 'false'} aria-describedby=${error ? 'token-error' : undefined} />
      ${error ? html`<p class="error" id="token-error" role="alert">${error}</p>` : null}
      <button type="submit" class="primary" disabled=${busy}>${busy ? 'Checking…' : 'Open the dashboard'}</button>
    </form>
  </main>`;
}

function LiveBadge({ state }: { state: LiveState }) {
  const text = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : state === 'reconnecting' ? 'Reconnecting…' : 'Not authorized';
  return html`<span class=${`live-badge ${state}`} role="status" aria-live="polite"><span class="dot" aria-hidden="true"></span>${text}</span>`;
}

function Shell({ metrics, live }: { metrics: MetricsReply; live: LiveStream }) {
  const route = useRoute();
  const [liveState, setLiveState] = useState<LiveState>(live.state);
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    const off = live.onState(setLiveState);
    // It may have changed between the first render and this subscription.
    setLiveState(live.state);
    return off;
  }, [live]);
  // Focus the new page's content on navigation, so keyboard and screen-reader users land on it.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [route[0]]);
  const page = route[0] ?? '';
  const rest = route.slice(1);
  let view;
  switch (page) {
    case 'state':
      view = html`<${StatePage} keyPath=${rest.join('/')} />`;
      break;
    case 'specs':
      view = html`<${SpecsPage} project=${rest[0] ?? ''} name=${rest.slice(1).join('/')} />`;
      break;
    case 'rules':
      view = html`<${RulesPage} />`;
      break;
    case 'leases':
      view = html`<${LeasesPage} project=${rest.join('/')} />`;
      break;
    case 'tasks':
      view = html`<${TasksPage} project=${rest.join('/')} />`;
      break;
    case 'team':
      view = html`<${TeamRoute} project=${rest.join('/')} />`;
      break;
    case 'inbox':
      view = html`<${InboxPage} thread=${rest[0] ?? ''} />`;
      break;
    case 'webhooks':
      view = html`<${WebhooksPage} />`;
      break;
    case 'compliance':
      view = html`<${CompliancePage} />`;
      break;
    case 'audit':
      view = html`<${AuditPage} />`;
      break;
    case 'llm':
      view = html`<${LlmPage} />`;
      break;
    case '':
      view = html`<${Overview} initial=${metrics} />`;
      break;
    default:
      view = html`<h1>Not found</h1><p>No page <code>${page}</code>. <a href="#/">Back to the overview</a>.</p>`;
  }
  return html`<${LiveContext.Provider} value=${live}>
    <a class="skip" href="#main" onClick=${(e: Event) => (e.preventDefault(), main.current?.focus())}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/">Koor</a>
      <nav aria-label="Main">
        <ul>
          ${PAGES.map((p) => html`<li><a href=${`#/${p.path}`} aria-current=${page === p.path ? 'page' : undefined}>${p.label}</a></li>`)}
        </ul>
      </nav>
      <${LiveBadge} state=${liveState} />
    </header>
    <main id="main" ref=${main} tabindex="-1">${view}</main>
  <//>`;
}

function App() {
  const [boot, setBoot] = useState<Boot>({ phase: 'checking' });
  const [live, setLive] = useState<LiveStream | null>(null);

  const check = async () => {
    try {
      const metrics = await getJson<'GET /api/metrics'>('/api/metrics', { quiet401: true });
      setBoot({ phase: 'ready', metrics });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setBoot({ phase: 'token', note: getToken() === '' ? null : 'The saved token is no longer accepted by the server: enter it again.' });
      else setBoot({ phase: 'unreachable', error: message(e) });
    }
  };
  useEffect(() => {
    void check();
    // Any 401 later (the server restarted with another token): ask again.
    return onUnauthorized(() => {
      setToken('');
      setBoot({ phase: 'token', note: 'The server no longer accepts the token: enter it again.' });
    });
  }, []);
  useEffect(() => {
    if (boot.phase !== 'ready') return;
    const l = new LiveStream();
    setLive(l);
    void l.start();
    const off = l.onState((s) => {
      if (s === 'unauthorized') {
        setToken('');
        setBoot({ phase: 'token', note: 'The live stream was refused: enter the token again.' });
      }
    });
    return () => {
      off();
      l.stop();
      setLive(null);
    };
  }, [boot.phase]);

  switch (boot.phase) {
    case 'checking':
      return html`<p class="boot">Connecting to Koor…</p>`;
    case 'unreachable':
      return html`<main class="token-page" id="main"><div class="card"><h1>Koor dashboard</h1><p class="error" role="alert">The server did not answer: ${boot.error}</p><button type="button" class="primary" onClick=${() => void check()}>Try again</button></div></main>`;
    case 'token':
      return html`<${TokenPrompt} note=${boot.note} onDone=${(metrics: MetricsReply) => setBoot({ phase: 'ready', metrics })} />`;
    case 'ready':
      return live ? html`<${Shell} metrics=${boot.metrics} live=${live} />` : html`<p class="boot">Connecting to Koor…</p>`;
  }
}

render(html`<${App} />`, document.getElementById('app')!);
