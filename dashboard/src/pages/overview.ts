/**
 * The overview: health and figures from GET /api/metrics, the agent roster, and the live event
 * stream. Only the figures are polled (one small request every METRICS_POLL_MS while the tab is
 * visible); the roster is read again when the event stream or the figures say it changed, and
 * the stream itself is pushed over the WebSocket.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { EventReply as KoorEvent } from '../../../schemas/http/events.js';
import type { InstanceSummary } from '../../../schemas/http/instances.js';
import type { MetricsReply } from '../../../schemas/http/system.js';
import { getJson, query, send } from '../api.js';
import { isValidGlob, matcherFor } from '../../../src/shared/glob.js';
import { projectOf } from '../../../src/shared/workspace.js';
import { AgentRef, namesOf, withNames } from '../names.js';
import { ageMs, brief, ErrorNote, fmtAge, fmtBytes, fmtInt, fmtTime, html, message, TableWrap, useAction, useConfirm, useLive, useLoad, useOnEvents, useVisibleInterval, type Loaded } from '../ui.js';

/** /api/metrics is read this often while the overview is visible. */
const METRICS_POLL_MS = 5000;
/** The roster is read again at least this often (heartbeats move last_seen without an event). */
const ROSTER_REFRESH_MS = 30_000;
/** Events that concern agents are gathered this long before the roster is read again. */
const ROSTER_EVENT_DELAY_MS = 1000;
/** Agents the roster shows at first (the ones seen last), and how many more "Show more" adds. */
const ROSTER_PAGE = 50;
/**
 * Rows of the event table at first, and how many more "Show more" adds (the filter runs over the
 * whole buffer): beside a thousand agents the table changes several times a second, and each row
 * drawn is laid out again each time.
 */
const EVENT_ROWS = 50;
/** Characters of an event's data shown in its row (all of it in the tooltip). */
const DATA_CHARS = 120;
/** Agents whose names the event stream keeps from roster pages, at most (then it starts again). */
const NAMES_KEPT = 5000;

function Figure({ label, value, metric, hint }: { label: string; value: string; metric?: string; hint?: string }) {
  return html`<div class="figure"><dt>${label}</dt><dd data-metric=${metric} title=${hint}>${value}</dd></div>`;
}

function Figures({ m, healthy, lastEventId, onReset }: { m: MetricsReply; healthy: boolean; lastEventId: number; onReset: () => void }) {
  const t = m.token_tax;
  const writerOk = m.writer.restarts === 0 && m.writer.commit_failures === 0 && m.writer.deadline_exceeded === 0 && m.writer.rejected_full === 0;
  const subsOk = m.events.closed_slow === 0 && m.events.dropped === 0;
  return html`<section aria-labelledby="fig-h" class="panel">
    <div class="panel-head">
      <h2 id="fig-h">Server</h2>
      <button type="button" onClick=${onReset} title="POST /api/metrics/reset: zero the REST and MCP call counters">Reset call counters</button>
    </div>
    <div class="figure-groups">
      <div class="figure-group"><h3 id="fg-health">Health and counts</h3><dl class="figures" aria-labelledby="fg-health">
        <${Figure} label="Health" value=${healthy ? 'ok' : 'unreachable'} metric="health" />
        <${Figure} label="Uptime" value=${m.uptime} metric="uptime" />
        <${Figure} label="State keys" value=${fmtInt(m.state_keys)} metric="state_keys" />
        <${Figure} label="Agents" value=${fmtInt(m.instances)} metric="instances" />
        <${Figure} label="Last event id" value=${fmtInt(Math.max(m.last_event_id, lastEventId))} metric="last_event_id" />
        <${Figure} label="MCP sessions" value=${fmtInt(m.mcp_sessions)} metric="mcp_sessions" />
        <${Figure} label="Data file" value=${fmtBytes(m.data_file_bytes)} metric="data_file_bytes" />
      </dl></div>
      <div class="figure-group"><h3 id="fg-tax">Token tax</h3><dl class="figures" aria-labelledby="fg-tax">
        <${Figure} label="REST calls" value=${fmtInt(t.rest_calls)} metric="rest_calls" hint="Data-plane calls: cost the model no tokens" />
        <${Figure} label="MCP calls" value=${fmtInt(t.mcp_calls)} metric="mcp_calls" />
        <${Figure} label="Tokens saved" value=${fmtInt(t.rest_tokens_saved)} metric="rest_tokens_saved" hint="REST calls × 300 tokens an MCP call would have cost" />
        <${Figure} label="MCP tokens" value=${fmtInt(t.mcp_estimated_tokens)} metric="mcp_estimated_tokens" />
        <${Figure} label="Saved" value=${`${t.savings_percent.toFixed(1)} %`} metric="savings_percent" />
      </dl></div>
      <div class="figure-group"><h3 id="fg-writer">Writer${writerOk ? '' : ' — needs a look'}</h3><dl class=${`figures ${writerOk ? '' : 'warn'}`} aria-labelledby="fg-writer">
        <${Figure} label="Writer calls" value=${fmtInt(m.writer.calls)} metric="writer_calls" />
        <${Figure} label="Queue depth" value=${fmtInt(m.writer.queue_depth)} metric="writer_queue_depth" />
        <${Figure} label="Restarts" value=${fmtInt(m.writer.restarts)} metric="writer_restarts" />
        <${Figure} label="Failed commits" value=${fmtInt(m.writer.commit_failures)} metric="writer_commit_failures" />
        <${Figure} label="Over deadline" value=${fmtInt(m.writer.deadline_exceeded)} metric="writer_deadline_exceeded" />
      </dl></div>
      <div class="figure-group"><h3 id="fg-subs">Event subscribers${subsOk ? '' : ' — some fell behind'}</h3><dl class=${`figures ${subsOk ? '' : 'warn'}`} aria-labelledby="fg-subs">
        <${Figure} label="Subscribers" value=${fmtInt(m.events.subscribers)} metric="subscribers" />
        <${Figure} label="Delivered" value=${fmtInt(m.events.delivered)} metric="delivered" />
        <${Figure} label="Dropped" value=${fmtInt(m.events.dropped)} metric="dropped" />
        <${Figure} label="Closed slow" value=${fmtInt(m.events.closed_slow)} metric="closed_slow" />
        <${Figure} label="Webhook backlog" value=${fmtInt(m.webhooks.pending)} metric="webhook_pending" />
      </dl></div>
    </div>
  </section>`;
}

/**
 * The roster's first `shown` agents, seen last first (a page, however many agents the server
 * has), read again when the event stream or the figures say it changed.
 */
function useRoster(instancesCount: number, shown: number): Loaded<InstanceSummary[]> {
  const roster = useLoad(() => getJson<'GET /api/instances'>(`/api/instances${query({ limit: shown })}`), [shown]);
  const names = useRef(new Set<string>());
  names.current = new Set((roster.data ?? []).map((i) => i.name));
  const partial = useRef(false);
  partial.current = (roster.data?.length ?? 0) < instancesCount;
  // agent.stale, or anything an agent of the roster published (it was just seen) — any agent when
  // the page does not hold them all: one just seen moves into it. At most one read per
  // ROSTER_EVENT_DELAY_MS however busy the stream is.
  useOnEvents(
    '*',
    (events) => {
      if (events.some((e) => e.topic.startsWith('agent.') || (e.source !== '' && (partial.current || names.current.has(e.source))))) roster.reload();
    },
    ROSTER_EVENT_DELAY_MS,
  );
  const known = useRef(instancesCount);
  useEffect(() => {
    if (known.current !== instancesCount) roster.reload();
    known.current = instancesCount;
  }, [instancesCount]);
  useVisibleInterval(() => roster.reload(), ROSTER_REFRESH_MS);
  return roster;
}

function Roster({ roster, total, onMore }: { roster: Loaded<InstanceSummary[]>; total: number; onMore: () => void }) {
  const [now, setNow] = useState(Date.now());
  // "Last seen" ages move on without a request.
  useVisibleInterval(() => setNow(Date.now()), 5000);
  const list = roster.data ?? [];
  const stale = list.filter((i) => i.status === 'stale').length;
  const all = Math.max(total, list.length);
  // Nothing read yet (or the first read failed): no page to speak of.
  const partial = roster.data !== null && list.length < all;
  const more = partial ? Math.min(ROSTER_PAGE, all - list.length) : 0;
  return html`<section aria-labelledby="roster-h" class="panel">
    <div class="panel-head">
      <h2 id="roster-h">Agents <span class="count">${fmtInt(all)}${partial ? `, the ${fmtInt(list.length)} seen last shown` : null}${stale > 0 ? html`, <span class="stale-text">${stale} stale${partial ? ' of them' : ''}</span>` : null}</span></h2>
      ${more > 0 ? html`<button type="button" onClick=${onMore}>Show ${fmtInt(more)} more</button>` : null}
    </div>
    <${ErrorNote} error=${roster.error} />
    ${list.length === 0 && !roster.loading
      ? html`<p class="muted">No agent registered yet. Agents register with <code>koor-cli register</code> or the MCP tool <code>register_instance</code>.</p>`
      : html`<${TableWrap} label="Agent roster">
          <table class="roster">
            <thead><tr><th scope="col">Agent</th><th scope="col">Status</th><th scope="col">Intent</th><th scope="col">Project · stack</th><th scope="col">Capabilities</th><th scope="col">Last seen</th></tr></thead>
            <tbody>
              ${list.map(
                (i) => html`<tr key=${i.id} data-instance=${i.id} class=${i.status === 'stale' ? 'is-stale' : ''}>
                  <th scope="row"><span class="name">${i.name}</span><br /><code class="muted small" title=${i.id}>${i.id.slice(0, 8)}</code></th>
                  <td><span class=${`badge status-${i.status}`} data-status=${i.status}>${i.status}</span></td>
                  <td>${i.intent || html`<span class="muted">—</span>`}</td>
                  <td title=${projectOf(i.workspace) !== i.workspace ? i.workspace : undefined}>${projectOf(i.workspace) || '—'}${i.stack ? html` · ${i.stack}` : null}</td>
                  <td>${i.capabilities.length ? i.capabilities.map((c) => html`<span class="tag">${c}</span> `) : html`<span class="muted">—</span>`}</td>
                  <td title=${fmtTime(i.last_seen)}>${fmtAge(ageMs(i.last_seen, now))}</td>
                </tr>`,
              )}
            </tbody>
          </table>
        <//>`}
  </section>`;
}

function EventStream({ roster }: { roster: readonly InstanceSummary[] }) {
  const live = useLive();
  const [events, setEvents] = useState<KoorEvent[]>(live.events);
  const [paused, setPaused] = useState(false);
  const [filter, setFilter] = useState('');
  const [missed, setMissed] = useState(0);
  const [rows, setRows] = useState(EVENT_ROWS);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  useEffect(() => {
    const off = live.subscribe((fresh) => {
      if (pausedRef.current) setMissed((n) => n + fresh.length);
      else setEvents(live.events);
    });
    // Events that arrived between the first render and this subscription.
    if (!pausedRef.current) setEvents(live.events);
    return off;
  }, [live]);
  const togglePause = () => {
    if (paused) {
      setEvents(live.events);
      setMissed(0);
    }
    setPaused(!paused);
  };
  const valid = filter === '' || isValidGlob(filter);
  const shown = useMemo(() => {
    const match = valid && filter !== '' ? matcherFor(filter) : null;
    const out: KoorEvent[] = [];
    let more = false;
    for (let i = events.length - 1; i >= 0; i--) {
      if (match && !match(events[i]!.topic)) continue;
      if (out.length === rows) {
        more = true;
        break;
      }
      out.push(events[i]!);
    }
    return { rows: out, more };
  }, [events, filter, valid, rows]);
  // Agent ids in the rows read as names (the id stays in the tooltip).
  const names = useMemo(() => namesOf(roster, events), [roster, events]);
  return html`<section aria-labelledby="events-h" class="panel">
    <div class="panel-head">
      <h2 id="events-h">Live events</h2>
      <div class="controls">
        <label for="event-filter">Topic filter</label>
        <input id="event-filter" type="search" placeholder="e.g. api.*" value=${filter} aria-invalid=${valid ? 'false' : 'true'} aria-describedby="event-filter-help" onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} />
        <button type="button" aria-pressed=${paused ? 'true' : 'false'} onClick=${togglePause}>${paused ? 'Resume' : 'Pause'}</button>
      </div>
    </div>
    <p id="event-filter-help" class=${valid ? 'muted small' : 'error small'}>${valid ? html`Glob as the server matches topics: <code>*</code> any run of characters but <code>/</code>, <code>?</code> one.` : `Not a valid pattern: ${filter}`}</p>
    ${paused ? html`<p class="paused-note" role="status">Paused${missed > 0 ? ` — ${missed} new event${missed === 1 ? '' : 's'} waiting` : ''}.</p>` : null}
    ${shown.rows.length === 0
      ? html`<p class="muted">${events.length === 0 ? 'No events yet. Publish one: ' : 'No event matches the filter.'}${events.length === 0 ? html`<code>koor-cli events publish demo.hello --data '{"hi":1}'</code>` : null}</p>`
      : html`<${TableWrap} label="Live events">
          <table class="events">
            <thead><tr><th scope="col" class="col-id">#</th><th scope="col" class="col-time">Time (UTC)</th><th scope="col">Topic</th><th scope="col" class="col-source">Source</th><th scope="col">Data</th></tr></thead>
            <tbody>
              ${shown.rows.map(
                (e) => html`<tr key=${e.id} data-event=${e.id}>
                  <td class="num">${e.id}</td>
                  <td class="nowrap">${fmtTime(e.created_at)}</td>
                  <td><code class="topic">${e.topic}</code></td>
                  <td>${e.source === '' ? html`<span class="muted">—</span>` : names.has(e.source) ? html`<${AgentRef} id=${e.source} names=${names} />` : e.source}</td>
                  <td><code class="data" title=${brief(e.data, 2000)}>${withNames(brief(e.data, 100_000), names, DATA_CHARS)}</code></td>
                </tr>`,
              )}
            </tbody>
          </table>
        <//>
        ${shown.more ? html`<button type="button" class="more" onClick=${() => setRows((n) => n + EVENT_ROWS)}>Show ${EVENT_ROWS} more events</button>` : null}`}
  </section>`;
}

export function Overview({ initial }: { initial: MetricsReply }) {
  const live = useLive();
  const [metrics, setMetrics] = useState<MetricsReply>(initial);
  const [error, setError] = useState<string | null>(null);
  const [lastEventId, setLastEventId] = useState(live.lastId);
  const [confirmEl, confirm] = useConfirm();
  const [actionError, , run] = useAction();
  const [rosterRows, setRosterRows] = useState(ROSTER_PAGE);
  const roster = useRoster(metrics.instances, rosterRows);
  // The stream names every agent any roster page showed, not only the page on screen.
  const everShown = useRef(new Map<string, InstanceSummary>());
  const named = useMemo(() => {
    if (everShown.current.size > NAMES_KEPT) everShown.current.clear();
    for (const i of roster.data ?? []) everShown.current.set(i.id, i);
    return [...everShown.current.values()];
  }, [roster.data]);
  const poll = () =>
    getJson<'GET /api/metrics'>('/api/metrics').then(
      (m) => {
        setMetrics(m);
        setError(null);
      },
      (e: unknown) => setError(message(e)),
    );
  useEffect(() => void poll(), []);
  useVisibleInterval(() => void poll(), METRICS_POLL_MS);
  useEffect(() => {
    const off = live.subscribe(() => setLastEventId(live.lastId));
    setLastEventId(live.lastId);
    return off;
  }, [live]);
  const reset = async () => {
    if (await confirm('Zero the REST and MCP call counters (the token-tax figures)?', 'Reset counters')) await run(() => send('POST', '/api/metrics/reset').then(poll));
  };
  return html`<h1>Overview</h1>
    ${error ? html`<p class="error" role="alert">Figures not updated: ${error}</p>` : null}
    <${ErrorNote} error=${actionError} />
    <${Figures} m=${metrics} healthy=${error === null} lastEventId=${lastEventId} onReset=${reset} />
    <div class="two-cols">
      <${Roster} roster=${roster} total=${metrics.instances} onMore=${() => setRosterRows((n) => n + ROSTER_PAGE)} />
      <${EventStream} roster=${named} />
    </div>
    ${confirmEl}`;
}

