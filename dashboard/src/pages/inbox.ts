/**
 * The agent inbox as the operator sees it: recent threads, a thread with every message
 * and each recipient's read/ack state, and a form to write to agents as `human`.
 *
 * The thread list comes from the public `message.sent` events (history once, then the live
 * stream): they carry ids and names but never a subject or body, so each listed thread's first
 * message is read (GET /api/threads/{id}?limit=1) once, a few at a time, for its subject. A thread
 * is read whole when opened (GET /api/threads/{id}) with each message's receipts
 * (GET /api/messages/{id}). Reading and acknowledging publish no event: while a shown message
 * still waits on a recipient, its receipts are read again every RECEIPTS_POLL_MS (visible tab).
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { EventReply as KoorEvent } from '../../../schemas/http/events.js';
import type { InstanceSummary } from '../../../schemas/http/instances.js';
import type { Importance, Message, Receipt } from '../../../schemas/http/messages.js';
import { projectOf } from '../../../src/shared/workspace.js';
import { getJson, query, send } from '../api.js';
import { AgentRef, namesOf } from '../names.js';
import { ErrorNote, fmtInt, fmtTime, html, message, Status, TableWrap, useAction, useLive, useLoad, useOnEvents, useVisibleInterval } from '../ui.js';

/** `message.sent` events read when the page opens. */
const HISTORY_MESSAGES = 500;
/** Threads listed (newest activity first). */
const THREAD_ROWS = 50;
/** First messages read at once for the subjects. */
const SUBJECT_READS_IN_FLIGHT = 4;
/** Messages of a thread read (the server's most per page). */
const THREAD_LIMIT = 1000;
const RECEIPT_READS_IN_FLIGHT = 4;
const RECEIPTS_POLL_MS = 5000;
const ROSTER_REFRESH_MS = 30_000;

/** The data of a `message.sent` event (no subject, no body). */
interface Sent {
  id: number;
  thread_id: number;
  reply_to: number;
  from: string;
  from_name: string;
  recipients: string[];
  recipient_names: string[];
  importance: Importance;
  ack_required: boolean;
}

interface ThreadRow {
  id: number;
  /** The newest message seen, and when. */
  last: number;
  lastAt: string;
  count: number;
  people: string[];
  high: boolean;
  ack: boolean;
}

type Receipted = Message & { receipts: Receipt[] };

const sentOf = (e: KoorEvent): Sent | null => (e.topic === 'message.sent' && e.data !== null && typeof e.data === 'object' ? (e.data as Sent) : null);

/** Runs `fn` over `items`, `width` at a time. */
async function pooled<T>(items: readonly T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

/** Threads of the `message.sent` events, newest activity first. */
function threadsOf(events: ReadonlyMap<number, KoorEvent>): ThreadRow[] {
  const by = new Map<number, ThreadRow>();
  for (const e of [...events.values()].sort((a, b) => a.id - b.id)) {
    const s = sentOf(e);
    if (!s) continue;
    let t = by.get(s.thread_id);
    if (!t) by.set(s.thread_id, (t = { id: s.thread_id, last: 0, lastAt: '', count: 0, people: [], high: false, ack: false }));
    t.last = s.id;
    t.lastAt = e.created_at;
    t.count++;
    for (const p of [s.from_name, ...s.recipient_names]) if (p && !t.people.includes(p)) t.people.push(p);
    t.high ||= s.importance === 'high';
    t.ack ||= s.ack_required;
  }
  return [...by.values()].sort((a, b) => b.last - a.last);
}

/** Every `message.sent` event: the recent history, then the live stream. */
function useSentEvents(): { events: Map<number, KoorEvent>; error: string | null; loading: boolean } {
  const live = useLive();
  const [events, setEvents] = useState(() => new Map<number, KoorEvent>());
  const history = useLoad(() => getJson<'GET /api/events/history'>(`/api/events/history${query({ topic: 'message.sent', last: HISTORY_MESSAGES })}`), []);
  const add = (list: readonly KoorEvent[]) => {
    const fresh = list.filter((e) => e.topic === 'message.sent');
    if (fresh.length === 0) return;
    setEvents((m) => {
      const n = new Map(m);
      for (const e of fresh) n.set(e.id, e);
      return n;
    });
  };
  useEffect(() => {
    if (history.data) add(history.data);
  }, [history.data]);
  // The live buffer may hold some sent before the history was read; the stream brings the rest.
  useEffect(() => {
    add(live.events);
    return live.subscribe(add);
  }, [live]);
  return { events, error: history.error, loading: history.loading && !history.data };
}

/** The first message of each thread (its subject), read once, a few at a time. */
function useFirstMessages(ids: readonly number[]): ReadonlyMap<number, Message | string> {
  const [firsts, setFirsts] = useState<ReadonlyMap<number, Message | string>>(new Map());
  const asked = useRef(new Set<number>());
  const key = ids.join(',');
  useEffect(() => {
    const todo = ids.filter((id) => !asked.current.has(id));
    if (todo.length === 0) return;
    for (const id of todo) asked.current.add(id);
    void pooled(todo, SUBJECT_READS_IN_FLIGHT, async (id) => {
      let v: Message | string;
      try {
        v = (await getJson<'GET /api/threads/{id}'>(`/api/threads/${id}?limit=1`))[0] ?? 'empty';
      } catch (e) {
        v = message(e);
      }
      setFirsts((m) => new Map(m).set(id, v));
    });
  }, [key]);
  return firsts;
}

function Threads({ current }: { current: number | null }) {
  const { events, error, loading } = useSentEvents();
  const threads = useMemo(() => threadsOf(events).slice(0, THREAD_ROWS), [events]);
  const firsts = useFirstMessages(useMemo(() => threads.map((t) => t.id), [threads]));
  return html`<section class="panel" aria-labelledby="ib-threads-h">
    <h2 id="ib-threads-h">Recent threads <span class="count">${threads.length}</span></h2>
    <${Status} loading=${loading} error=${error} />
    ${threads.length === 0 && !loading
      ? html`<p class="muted">No messages yet. Write to an agent below, or from a terminal: <code>${'koor-cli send <agent> "hello"'}</code>.</p>`
      : html`<${TableWrap} label="Recent threads">
          <table class="threads">
            <thead><tr><th scope="col">Subject</th><th scope="col">Between</th><th scope="col">Messages</th><th scope="col">Last (UTC)</th></tr></thead>
            <tbody>
              ${threads.map((t) => {
                const first = firsts.get(t.id);
                const subject = first === undefined ? html`<span class="muted">…</span>` : typeof first === 'string' ? html`<span class="muted" title=${first}>thread ${t.id}</span>` : first.subject || html`<span class="muted">(no subject)</span>`;
                return html`<tr key=${t.id} data-thread=${t.id} aria-current=${t.id === current ? 'true' : undefined}>
                  <th scope="row"><a href=${`#/inbox/${t.id}`}>${subject}</a>${t.high ? html` <span class="badge sev-warning">high</span>` : null}${t.ack ? html` <span class="badge status-pending">ack</span>` : null}</th>
                  <td>${t.people.join(', ')}</td>
                  <td class="num">${fmtInt(t.count)}</td>
                  <td class="nowrap">${fmtTime(t.lastAt)}</td>
                </tr>`;
              })}
            </tbody>
          </table>
        <//>`}
  </section>`;
}

/** A receipt's state: what the recipient did with the message so far. */
function stateOf(r: Receipt): 'acked' | 'read' | 'unread' {
  return r.acked_at !== '' ? 'acked' : r.read_at !== '' ? 'read' : 'unread';
}

/** Whether a recipient may still change this message's receipts (read it, or ack it). */
const waiting = (m: Receipted): boolean => m.receipts.some((r) => (m.ack_required ? r.acked_at === '' : r.read_at === ''));

function MessageCard({ m }: { m: Receipted }) {
  const names = useMemo(() => new Map(m.receipts.filter((r) => r.name !== '').map((r) => [r.recipient, r.name])), [m]);
  return html`<article class="panel message" data-message=${m.id} aria-labelledby=${`ib-m${m.id}`}>
    <header class="message-head">
      <h3 id=${`ib-m${m.id}`}>${m.subject || html`<span class="muted">(no subject)</span>`}</h3>
      <p class="small">
        <span class="muted">#${m.id}</span> from <strong data-from=${m.from}>${m.from_name || m.from}</strong> to ${m.recipients.map((id, i) => html`${i > 0 ? ', ' : ''}<${AgentRef} id=${id} names=${names} />`)}${' · '}<span class="nowrap">${fmtTime(m.created_at)}</span>${m.reply_to !== null ? ` · reply to #${m.reply_to}` : null}
        ${m.importance === 'high' ? html` <span class="badge sev-warning">high</span>` : null}
        ${m.ack_required ? html` <span class="badge status-pending">ack required</span>` : null}
      </p>
    </header>
    <pre class="value body">${m.body}</pre>
    <${TableWrap} label=${`Receipts of message ${m.id}`}>
      <table class="receipts">
        <thead><tr><th scope="col">Recipient</th><th scope="col">State</th><th scope="col">Read (UTC)</th><th scope="col">Acknowledged (UTC)</th></tr></thead>
        <tbody>
          ${m.receipts.map((r) => {
            const s = stateOf(r);
            return html`<tr key=${r.recipient} data-receipt=${r.recipient} data-state=${s}>
              <th scope="row">${r.name ? html`<span title=${r.recipient}>${r.name}</span>` : html`<code class="small">${r.recipient}</code>`}</th>
              <td><span class=${`badge ${s === 'unread' ? 'status-pending' : 'status-active'}`}>${s}</span></td>
              <td class="nowrap">${fmtTime(r.read_at)}</td>
              <td class="nowrap">${m.ack_required || r.acked_at !== '' ? fmtTime(r.acked_at) : html`<span class="muted">not asked</span>`}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    <//>
    ${m.receipts.length < m.recipients.length ? html`<p class="muted small">${m.recipients.length - m.receipts.length} recipient(s) deregistered since (their inbox went with them).</p>` : null}
  </article>`;
}

function ThreadView({ id, roster }: { id: number; roster: readonly InstanceSummary[] }) {
  const [messages, setMessages] = useState<Receipted[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const current = useRef<Receipted[] | null>(null);
  current.current = messages;
  const seq = useRef(0);
  /** Reads the thread, and the receipts of its new messages and of those still waiting. */
  const load = async () => {
    const n = ++seq.current;
    setBusy(true);
    try {
      const thread = await getJson<'GET /api/threads/{id}'>(`/api/threads/${id}${query({ limit: THREAD_LIMIT })}`);
      const known = new Map((current.current ?? []).map((m) => [m.id, m]));
      const out = new Map<number, Receipted>();
      const todo = thread.filter((m) => {
        const k = known.get(m.id);
        if (k && !waiting(k)) out.set(m.id, k);
        return !(k && !waiting(k));
      });
      await pooled(todo, RECEIPT_READS_IN_FLIGHT, async (m) => {
        out.set(m.id, await getJson<'GET /api/messages/{id}'>(`/api/messages/${m.id}`));
      });
      if (n !== seq.current) return;
      setMessages(thread.map((m) => out.get(m.id)!));
      setError(null);
    } catch (e) {
      if (n === seq.current) setError(message(e));
    } finally {
      if (n === seq.current) setBusy(false);
    }
  };
  useEffect(() => {
    current.current = null;
    setMessages(null);
    void load();
  }, [id]);
  useOnEvents('message.sent', (events) => {
    if (events.some((e) => sentOf(e)?.thread_id === id)) void load();
  });
  useVisibleInterval(() => {
    if (current.current?.some(waiting)) void load();
  }, RECEIPTS_POLL_MS);

  const list = messages ?? [];
  const last = list.at(-1);
  // A reply goes to everyone in the thread but the operator.
  const replyTo = useMemo(() => {
    const ids = new Set<string>();
    for (const m of list) for (const p of [m.from, ...m.recipients]) if (p !== 'human') ids.add(p);
    return [...ids];
  }, [messages]);
  const names = useMemo(() => {
    const m = namesOf(roster);
    for (const x of list) {
      if (x.from !== 'human') m.set(x.from, x.from_name);
      for (const r of x.receipts) if (r.name) m.set(r.recipient, r.name);
    }
    return m;
  }, [messages, roster]);
  return html`<section aria-labelledby="ib-thread-h" class="thread">
    <div class="panel-head">
      <h2 id="ib-thread-h">Thread ${id}${list[0]?.subject ? html`: ${list[0].subject}` : null} <span class="count">${list.length}</span></h2>
      <div class="controls">
        <button type="button" onClick=${() => void load()} disabled=${busy}>Refresh</button>
        <a href="#/inbox">Close</a>
      </div>
    </div>
    <${Status} loading=${messages === null && error === null} error=${error} />
    ${list.map((m) => html`<${MessageCard} key=${m.id} m=${m} />`)}
    ${last ? html`<${Compose} key=${`reply-${id}`} roster=${roster} reply=${{ thread: id, last: last.id, to: replyTo.map((p) => names.get(p) ?? p), subject: list[0]?.subject ?? '' }} />` : null}
  </section>`;
}

interface Reply {
  thread: number;
  last: number;
  to: string[];
  subject: string;
}

interface Draft {
  to: string;
  subject: string;
  body: string;
  importance: Importance;
  ack: boolean;
}

/** `a, b ,, c` → ['a', 'b', 'c'] (names may hold spaces: only commas separate). */
const splitTo = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

function Compose({ roster, reply }: { roster: readonly InstanceSummary[]; reply?: Reply }) {
  const blank = (): Draft => ({ to: reply ? reply.to.join(', ') : '', subject: reply && reply.subject !== '' && !reply.subject.startsWith('Re: ') ? `Re: ${reply.subject}` : (reply?.subject ?? ''), body: '', importance: 'normal', ack: false });
  const [draft, setDraft] = useState<Draft>(blank);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, busy, run] = useAction();
  const p = reply ? 'ib-reply' : 'ib-new';
  const suggestions = useMemo(() => {
    const s = new Set<string>(['*']);
    for (const i of roster) {
      if (i.name) s.add(i.name);
      const project = projectOf(i.workspace);
      if (project) s.add(`project:${project}`);
    }
    return [...s];
  }, [roster]);
  // A reply's recipients follow the thread (someone new answered) until the operator edits them.
  const edited = useRef(false);
  const threadTo = reply ? reply.to.join(', ') : '';
  useEffect(() => {
    if (reply && !edited.current) setDraft((d) => ({ ...d, to: threadTo }));
  }, [threadTo]);
  const set = (k: keyof Draft) => (e: Event) => {
    const el = e.target as HTMLInputElement;
    if (k === 'to') edited.current = true;
    setDraft({ ...draft, [k]: el.type === 'checkbox' ? el.checked : el.value });
  };
  const submit = (e: Event) => {
    e.preventDefault();
    setNotice(null);
    void run(async () => {
      const body = {
        to: splitTo(draft.to),
        subject: draft.subject.trim(),
        body: draft.body,
        importance: draft.importance,
        ack_required: draft.ack,
        ...(reply ? { thread_id: reply.thread, reply_to: reply.last } : {}),
      };
      const m = await send<'POST /api/messages'>('POST', '/api/messages', body);
      setNotice(`Message ${m.id} sent to ${m.recipients.length} recipient${m.recipients.length === 1 ? '' : 's'}.`);
      setDraft({ ...blank(), to: draft.to, subject: draft.subject });
      if (!reply) location.hash = `#/inbox/${m.thread_id}`;
    });
  };
  return html`<form class="panel compose" onSubmit=${submit} aria-labelledby=${`${p}-h`} data-compose=${reply ? 'reply' : 'new'}>
    <h2 id=${`${p}-h`}>${reply ? 'Reply in this thread' : 'Write to agents'}</h2>
    <p class="muted small">Sent as <strong>human</strong> (the operator). Agents read it with <code>koor-cli inbox</code> or GET /api/inbox; nothing is consumed by reading.</p>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    <${ErrorNote} error=${error} />
    <div class="grid-form">
      <div class="field wide">
        <label for=${`${p}-to`}>To</label>
        <input id=${`${p}-to`} list=${`${p}-agents`} required value=${draft.to} placeholder="backend, project:web or *" aria-describedby=${`${p}-to-hint`} onInput=${set('to')} />
        <datalist id=${`${p}-agents`}>${suggestions.map((x) => html`<option value=${x} />`)}</datalist>
        <span class="hint" id=${`${p}-to-hint`}>comma separated: agent names or ids, <code>${'project:<p>'}</code>, or <code>*</code> for every live agent</span>
      </div>
      <div class="field wide"><label for=${`${p}-subject`}>Subject</label><input id=${`${p}-subject`} value=${draft.subject} onInput=${set('subject')} /></div>
      <div class="field"><label for=${`${p}-importance`}>Importance</label>
        <select id=${`${p}-importance`} value=${draft.importance} onChange=${set('importance')}><option value="normal">normal</option><option value="high">high</option></select>
      </div>
      <div class="field checkbox"><label><input type="checkbox" checked=${draft.ack} onChange=${set('ack')} /> Acknowledgement required</label></div>
    </div>
    <div class="field"><label for=${`${p}-body`}>Message</label><textarea id=${`${p}-body`} rows="5" value=${draft.body} onInput=${set('body')}></textarea></div>
    <div class="actions"><button type="submit" class="primary" disabled=${busy}>${busy ? 'Sending…' : reply ? 'Send reply' : 'Send message'}</button></div>
  </form>`;
}

export function InboxPage({ thread }: { thread: string }) {
  const roster = useLoad(() => getJson<'GET /api/instances'>('/api/instances'), []);
  useOnEvents('agent.*', () => roster.reload(), 1000);
  // Agents register without an event: the suggestions of the To field follow the roster.
  useVisibleInterval(() => roster.reload(), ROSTER_REFRESH_MS);
  const id = /^[1-9]\d{0,14}$/.test(thread) ? Number(thread) : null;
  const agents = roster.data ?? [];
  return html`<h1>Inbox</h1>
    <${ErrorNote} error=${roster.error} />
    ${thread !== '' && id === null ? html`<p class="error" role="alert">No thread <code>${thread}</code>. <a href="#/inbox">Back to the threads</a>.</p>` : null}
    <div class="two-cols inbox">
      <div>
        <${Threads} current=${id} />
        <${Compose} roster=${agents} />
      </div>
      <div>${id === null ? html`<p class="muted panel">Open a thread to see its messages and who read or acknowledged each.</p>` : html`<${ThreadView} key=${id} id=${id} roster=${agents} />`}</div>
    </div>`;
}
