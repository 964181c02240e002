/**
 * What the team page draws, built from the event log: one bar per claim of a task
 * (`task.claimed` until `task.completed`, `task.released` or `task.failed`), and marks for the
 * edits the hook guard refused (`lease.denied`) and the idle sessions woken (`hook.woken`).
 * Plain data, no DOM: the page feeds it the history once and then every live event, in id order.
 *
 * Bounded: at most TEAM_MAX_CLAIMS claims and TEAM_MAX_MARKS marks are kept, the oldest finished
 * ones going first (a claim still open is never dropped: there are at most as many as claimed tasks).
 */
import type { EventReply as KoorEvent } from '../../schemas/http/events.js';
import type { Task } from '../../schemas/http/tasks.js';

/** Claims kept in the page (about a day of a busy team of ten: a bar is a few hundred bytes). */
export const TEAM_MAX_CLAIMS = 2000;
/** Denials and wake-ups kept. */
export const TEAM_MAX_MARKS = 1000;
/** Tasks whose last event time is remembered (to tell a task list older than the events apart). */
const TEAM_MAX_TOUCHED = 10_000;

/**
 * How a claim ended: `done` (completed), `released` (given back, or its claimer went stale),
 * `failed` (the task is parked as failed: failed, or released, for good), `retried` (failed, the
 * task went back to ready for another attempt); `open` while it is still claimed.
 */
export type Outcome = 'open' | 'done' | 'released' | 'failed' | 'retried';

export interface Claim {
  task: number;
  project: string;
  title: string;
  agent: string;
  /** Epoch ms; null when the claim began before the events the page has (its close was seen, not its start). */
  start: number | null;
  end: number | null;
  outcome: Outcome;
  reason: string;
  /** The attempt this claim was (1 = the first). */
  attempt: number;
}

export type MarkKind = 'denial' | 'wake';

export interface Mark {
  id: number;
  kind: MarkKind;
  agent: string;
  at: number;
  /**
   * The project it concerns when the event says (a wake-up for a task does; a denial, not yet: the
   * page places it by its agent, its lease or the lease's holder, see `markProject`).
   */
  project: string | null;
  text: string;
  /** A denial's lease and that lease's holder ('' for a wake-up). */
  lease: string;
  holder: string;
}

interface TaskData {
  id?: unknown;
  project?: unknown;
  title?: unknown;
  status?: unknown;
  claimed_by?: unknown;
  claimed_by_name?: unknown;
  attempts?: unknown;
  reason?: unknown;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Epoch ms of an RFC 3339 or storage-text (`YYYY-MM-DD HH:MM:SS`, UTC) time; NaN when unreadable. */
export function timeOf(t: string): number {
  return Date.parse(t.includes('T') ? t : `${t.replace(' ', 'T')}Z`);
}

/** The events the team page reads: the server's own task and denial events, and wake-ups. */
export function isTeamEvent(e: Pick<KoorEvent, 'topic' | 'source'>): boolean {
  return (e.topic.startsWith('task.') && e.source === 'tasks') || (e.topic === 'lease.denied' && e.source === 'hooks') || e.topic === 'hook.woken';
}

const CLOSES: Readonly<Record<string, true>> = { 'task.completed': true, 'task.failed': true, 'task.released': true };

export class TeamModel {
  /** Oldest first by the event that opened (or closed) them. */
  claims: Claim[] = [];
  marks: Mark[] = [];
  /** Agent id → name, as the events said. */
  readonly names = new Map<string, string>();
  /** The id of the last event applied: later events only (the live stream resumes in id order). */
  lastId = 0;
  /** The newest event time seen: the page's "now" never lags behind the server's clock. */
  newest = 0;
  private readonly open = new Map<number, Claim>();
  /** Task id → time of its newest event seen, the most recently touched last. */
  private readonly touched = new Map<number, number>();

  /** Applies events in id order (older ones than lastId are skipped: history and live overlap). Returns whether anything changed. */
  apply(events: readonly KoorEvent[]): boolean {
    let changed = false;
    for (const e of events) {
      if (e.id <= this.lastId) continue;
      this.lastId = e.id;
      if (!isTeamEvent(e)) continue;
      const at = timeOf(e.created_at);
      if (!Number.isFinite(at)) continue;
      this.newest = Math.max(this.newest, at);
      const d = (e.data !== null && typeof e.data === 'object' ? e.data : {}) as Record<string, unknown>;
      if (e.topic === 'lease.denied') changed = this.mark(e.id, 'denial', d, at, str(d.project) || null, `edit of ${str(d.path)} refused: leased by ${str(d.holder_name) || str(d.holder)}`) || changed;
      else if (e.topic === 'hook.woken') changed = this.mark(e.id, 'wake', d, at, str(d.project) || null, wakeText(d)) || changed;
      else changed = this.task(e.topic, d as TaskData, at) || changed;
    }
    if (changed) this.trim();
    return changed;
  }

  /**
   * The task list's claimed tasks whose claim the events did not show (it was pruned from the
   * log, or made before the history read): an open bar from the claim's time (its `updated_at`).
   */
  reconcile(tasks: readonly Task[]): boolean {
    let changed = false;
    for (const t of tasks) {
      if (t.status !== 'claimed' || t.claimed_by === '' || this.open.has(t.id)) continue;
      const start = timeOf(t.updated_at);
      // A list read before the events that settled this claim arrived: the events know better.
      if ((this.touched.get(t.id) ?? -Infinity) >= start) continue;
      const c: Claim = { task: t.id, project: t.project, title: t.title, agent: t.claimed_by, start: Number.isFinite(start) ? start : null, end: null, outcome: 'open', reason: '', attempt: t.attempts };
      if (t.claimed_by_name !== '') this.names.set(t.claimed_by, t.claimed_by_name);
      this.open.set(t.id, c);
      this.claims.push(c);
      changed = true;
    }
    return changed;
  }

  /** Claims of one task, oldest first (its history on the page). */
  historyOf(task: number): Claim[] {
    return this.claims.filter((c) => c.task === task);
  }

  private mark(id: number, kind: MarkKind, d: Record<string, unknown>, at: number, project: string | null, text: string): boolean {
    const agent = str(d.agent);
    if (agent === '') return false;
    if (str(d.agent_name) !== '') this.names.set(agent, str(d.agent_name));
    const holder = kind === 'denial' ? str(d.holder) : '';
    if (holder !== '' && str(d.holder_name) !== '') this.names.set(holder, str(d.holder_name));
    this.marks.push({ id, kind, agent, at, project, text, lease: kind === 'denial' ? str(d.lease_id) : '', holder });
    return true;
  }

  private task(topic: string, d: TaskData, at: number): boolean {
    const id = num(d.id);
    if (id === 0) return false;
    this.touched.delete(id);
    this.touched.set(id, at);
    if (this.touched.size > TEAM_MAX_TOUCHED) this.touched.delete(this.touched.keys().next().value!);
    const agent = str(d.claimed_by);
    if (agent !== '' && str(d.claimed_by_name) !== '') this.names.set(agent, str(d.claimed_by_name));
    if (topic === 'task.claimed') {
      // A claim whose end the page missed (not in the history read): closed where the next one starts.
      const stale = this.open.get(id);
      if (stale) this.close(stale, at, 'released', '');
      if (agent === '') return stale !== undefined;
      const c: Claim = { task: id, project: str(d.project), title: str(d.title), agent, start: at, end: null, outcome: 'open', reason: '', attempt: num(d.attempts) };
      this.open.set(id, c);
      this.claims.push(c);
      return true;
    }
    if (!CLOSES[topic]) return false;
    // Whatever ended it, a task now `failed` failed for good (a release past max_attempts parks it too).
    const outcome: Outcome = str(d.status) === 'failed' ? 'failed' : topic === 'task.completed' ? 'done' : topic === 'task.released' ? 'released' : 'retried';
    const c = this.open.get(id);
    if (c) {
      this.close(c, at, outcome, str(d.reason));
      return true;
    }
    // Its start is older than what the page read: a bar from the left edge, when the claimer is known
    // (done and failed-for-good keep claimed_by; a release or a retry clears it).
    if (agent === '') return false;
    this.claims.push({ task: id, project: str(d.project), title: str(d.title), agent, start: null, end: at, outcome, reason: str(d.reason), attempt: num(d.attempts) });
    return true;
  }

  private close(c: Claim, at: number, outcome: Outcome, reason: string): void {
    c.end = Math.max(at, c.start ?? at);
    c.outcome = outcome;
    c.reason = reason;
    this.open.delete(c.task);
  }

  private trim(): void {
    if (this.claims.length > TEAM_MAX_CLAIMS) {
      let drop = this.claims.length - TEAM_MAX_CLAIMS;
      // The oldest finished claims go; open ones stay (at most one per claimed task).
      this.claims = this.claims.filter((c) => (drop > 0 && c.outcome !== 'open' ? (drop--, false) : true));
    }
    if (this.marks.length > TEAM_MAX_MARKS) this.marks = this.marks.slice(-TEAM_MAX_MARKS);
  }
}

function wakeText(d: Record<string, unknown>): string {
  if (d.reason === 'message') return `woken by message #${num(d.message_id)}${str(d.from_name) ? ` from ${str(d.from_name)}` : ''}`;
  if (d.reason === 'task') return `woken: task #${num(d.task_id)} ready${str(d.project) ? ` in ${str(d.project)}` : ''}`;
  return 'woken';
}

/**
 * The project a mark is in: the event's when it says; for a denial, else the project of the lease
 * that refused it (a lease refuses edits in its own project only); else the project of the agent
 * (its registration's); for a denial, else its lease's holder's. '' when none of them is known.
 */
export function markProject(m: Mark, agentProject: (id: string) => string, leaseProject: (id: string) => string): string {
  if (m.project !== null) return m.project;
  if (m.kind !== 'denial') return agentProject(m.agent);
  return (m.lease !== '' ? leaseProject(m.lease) : '') || agentProject(m.agent) || (m.holder !== '' ? agentProject(m.holder) : '');
}
