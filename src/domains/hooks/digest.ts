import type { Event } from '../../../schemas/rpc/writer.js';
import { pathGlobMatch } from '../../shared/path-glob.js';
import { projectOf } from '../../shared/workspace.js';
import type { InboxDbRow } from '../messages/reader.js';
import type { AuditNews } from './reader.js';
import { DIGEST_LIST_MAX, DIGEST_LOST_TITLE_CHARS, DIGEST_PREVIEW_CHARS } from '../../shared/limits-features.js';
import { HOOK_HELD_LINE_CHARS, HOOK_HELD_LINES } from '../../../schemas/rpc/writer-hooks.js';
import type { Lease } from '../../../schemas/http/leases.js';

/**
 * The text Koor puts into a model's context: what concerns one agent since its last
 * digest, in as few tokens as it takes, and nothing at all when nothing does. Budgets are in
 * o200k tokens (test/http/hooks.test.ts measures every shape with the real tokenizer); the text is
 * cut by an upper estimate of its tokens (tokenEstimate), line by line, most important first.
 */

export interface Me {
  id: string;
  name: string;
  /** Its project: other agents "in this repository" registered with it as their workspace. */
  project: string;
}

export interface DigestInput {
  me: Me;
  /** Unread messages after the session's cursor. */
  messages: readonly InboxDbRow[];
  /** Events after the session's cursor (the topics a digest reads), their data as stored or parsed. */
  events: ReadonlyArray<Pick<Event, 'id' | 'topic'> & { data: string | Record<string, unknown> }>;
  /** Audit entries after the session's cursor (DIGEST_AUDIT, schemas/db/tables/audit.ts). */
  audit: readonly AuditNews[];
  /** Files this session edited, repository-relative. */
  edited: readonly string[];
  /** Edits refused to this session, with the lease that refused each: news when it ends. */
  denied?: ReadonlyArray<{ path: string; lease_id: string }>;
  /** Events retention pruned after the session's cursor before it read them. */
  missed?: number;
}

const quote = (s: string, max = DIGEST_PREVIEW_CHARS): string => {
  const one = s.replace(/\s+/g, ' ').trim();
  return JSON.stringify(one.length > max ? `${one.slice(0, max - 1)}…` : one);
};
const parse = (text: string | Record<string, unknown>): Record<string, unknown> => {
  if (typeof text !== 'string') return text;
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const more = (n: number): string => (n > DIGEST_LIST_MAX ? ` and ${n - DIGEST_LIST_MAX} more` : '');

/** What became of a task Koor released from a stale agent, as its line says it. */
function fate(x: { status: string; by?: string }): string {
  switch (x.status) {
    case 'claimed':
      return `went to ${x.by}: do not finish it`;
    case 'ready':
      return 'is ready again';
    case 'failed':
      return 'failed (out of attempts)';
    case 'done':
      return `was done by ${x.by}`;
    default:
      return `is ${x.status}`;
  }
}

/** One line per kind of news, most pressing first; empty when nothing concerns the agent. */
export function digestLines(d: DigestInput): string[] {
  const lines: string[] = [];
  const { me } = d;

  if (d.messages.length > 0) {
    const items = d.messages.slice(0, DIGEST_LIST_MAX).map((m) => {
      const marks = [`#${m.id}`, ...(m.importance === 'high' ? ['high'] : []), ...(m.ack_required === 1 ? ['ack requested'] : [])].join(', ');
      return `${m.from_name}: ${quote(m.subject !== '' ? m.subject : m.body)} (${marks})`;
    });
    const n = d.messages.length;
    lines.push(`${n} new message${n === 1 ? '' : 's'}: ${items.join('; ')}${more(n)}. Read: koor-cli inbox`);
  }

  const ready = new Map<number, string>();
  const resumes: string[] = [];
  const freed: string[] = [];
  const leasedOver: string[] = [];
  /** Claims and leases released because this agent went stale: what became of each task since. */
  const lostTasks = new Map<number, { title: string; now: { status: string; by?: string } }>();
  const lostLeases: string[] = [];
  let budget: Record<string, unknown> | null = null;
  for (const e of d.events) {
    if (e.topic === 'budget.exceeded') {
      // A cap on this agent, its project or everyone: its claims are refused now.
      const b = parse(e.data);
      const scope = str(b.scope);
      if (scope === 'global' || scope === `agent:${me.id}` || scope === `agent:${me.name}` || scope === `project:${me.project}`) budget = b;
    } else if (e.topic.startsWith('task.')) {
      const t = parse(e.data);
      const id = Number(t.id);
      if (t.status === 'ready' && t.project === me.project) ready.set(id, str(t.title));
      else ready.delete(id);
      // This agent claimed a task an earlier claimer checkpointed: continue, do not restart.
      if (isResume(e.topic, t, me.id)) resumes.push(`Resume task #${id} ${quote(str(t.title))} from its last checkpoint, next: ${quote(str(t.resume))}. See: koor-cli task checkpoints ${id}`);
      // Its claim was released because it went stale (silent past the liveness timeout): say so, and whose the task is now.
      if (isLostClaim(e.topic, t, me.id)) lostTasks.set(id, { title: str(t.title), now: { status: str(t.status) } });
      else if (lostTasks.has(id)) {
        if (e.topic === 'task.claimed' && t.claimed_by === me.id) lostTasks.delete(id);
        else lostTasks.get(id)!.now = { status: str(t.status), by: str(t.claimed_by_name) };
      }
    } else if (e.topic === 'lease.released') {
      // A lease that refused this agent an edit ended: the file is free again.
      const l = parse(e.data);
      for (const x of d.denied ?? []) if (x.lease_id === l.id && !freed.includes(x.path)) freed.push(x.path);
      if (l.holder === me.id && l.reason === 'stale' && Array.isArray(l.resources)) for (const r of l.resources as unknown[]) if (!lostLeases.includes(str(r))) lostLeases.push(str(r));
    } else if (e.topic === 'lease.acquired') {
      const l = parse(e.data);
      // Another project's lease is on another repository's file of that path; an event from before projects names none.
      if (l.holder === me.id || (typeof l.project === 'string' && l.project !== me.project)) continue;
      const held = Array.isArray(l.resources) ? (l.resources as unknown[]).map(str) : [];
      const hit = d.edited.find((p) => held.some((g) => pathGlobMatch(g, p)));
      if (hit !== undefined) leasedOver.push(`${str(l.holder_name)} leased ${held.slice(0, 2).join(', ')}${str(l.reason) ? ` (${quote(str(l.reason))})` : ''}, covering ${hit} you edited`);
    }
  }
  if (budget !== null) {
    const cap = [typeof budget.usd === 'number' ? `$${budget.usd}` : '', typeof budget.tokens === 'number' ? `${budget.tokens} tokens` : ''].filter((x) => x !== '').join(' / ');
    const spent = typeof budget.usd === 'number' ? `$${Number(budget.spent_usd).toFixed(2)}` : `${Number(budget.spent_tokens)} tokens`;
    lines.unshift(`Budget exceeded: ${str(budget.scope)} spent ${spent} of ${cap} (${str(budget.period)} ${str(budget.period_key)}); task claims are refused until the period rolls or the cap is raised. See: koor-cli budget list`);
  }
  if (lostTasks.size > 0 || lostLeases.length > 0) {
    // Before all else, what to do first (a cut line keeps its start): work it thinks is its own may be another agent's now.
    for (const id of lostTasks.keys()) ready.delete(id);
    const tasks = [...lostTasks].slice(0, DIGEST_LIST_MAX).map(([id, x]) => `#${id} ${quote(x.title, DIGEST_LOST_TITLE_CHARS)} ${fate(x.now)}`);
    const leases = `${lostLeases.slice(0, DIGEST_LIST_MAX).join(', ')}${more(lostLeases.length)}`;
    const anyReady = [...lostTasks.values()].some((x) => x.now.status === 'ready');
    lines.unshift(
      lostTasks.size > 0
        ? `You went stale (silent too long), so Koor released your claim${lostTasks.size === 1 ? '' : 's'}: ${tasks.join('; ')}${more(lostTasks.size)}.${lostLeases.length > 0 ? ` Your leases on ${leases} ended too.` : ''}${anyReady ? ` To go on with a ready one, claim it: koor-cli task claim ${me.project}` : ''}`
        : `You went stale (silent too long), so Koor released your leases on ${leases}. Check before editing: koor-cli lease check <file>`,
    );
  }
  if ((d.missed ?? 0) > 0) {
    // First: what the lines below may lack (a claim released while it was silent, a task made ready).
    lines.unshift(`You missed ${d.missed} events (Koor's log pruned them while you were silent), so this news may be incomplete: check your claims and leases: koor-cli task list ${me.project}; koor-cli lease list`);
  }
  for (const r of resumes.slice(0, DIGEST_LIST_MAX)) lines.push(r);
  if (freed.length > 0) lines.push(`Free again, no longer leased: ${freed.slice(0, DIGEST_LIST_MAX).join(', ')}${more(freed.length)}. You may edit ${freed.length === 1 ? 'it' : 'them'} now.`);
  if (ready.size > 0) {
    const items = [...ready].slice(0, DIGEST_LIST_MAX).map(([id, title]) => `#${id} ${quote(title)}`);
    lines.push(`Task${ready.size === 1 ? '' : 's'} ready in ${me.project}: ${items.join('; ')}${more(ready.size)}. Claim: koor-cli task claim ${me.project}`);
  }
  for (const l of leasedOver.slice(0, DIGEST_LIST_MAX)) lines.push(`${l}. Coordinate before editing it again: koor-cli send <name> "<text>"`);

  const rules: string[] = [];
  const specs: string[] = [];
  const joined: string[] = [];
  for (const a of d.audit) {
    const [project = '', name = ''] = a.resource.split('/');
    if (a.action === 'rule.accept' && project === me.project) rules.push(name);
    else if ((a.action === 'spec.put' || a.action === 'spec.delete') && project === me.project && a.actor !== me.name) {
      specs.push(`${project}/${name} ${a.action === 'spec.put' ? 'updated' : 'deleted'}${a.actor ? ` by ${a.actor}` : ''}`);
    } else if (a.action === 'instance.register' && a.resource !== me.id && a.actor !== '' && (a.project ??= projectOf(str(parse(a.detail).workspace))) === me.project) joined.push(a.actor);
  }
  if (rules.length > 0) lines.push(`Rule${rules.length === 1 ? '' : 's'} accepted in ${me.project}: ${rules.slice(0, DIGEST_LIST_MAX).join(', ')}${more(rules.length)}. See: koor-cli rules list ${me.project}`);
  if (specs.length > 0) lines.push(`Spec${specs.length === 1 ? '' : 's'} ${specs.slice(0, DIGEST_LIST_MAX).join('; ')}${more(specs.length)}.`);
  if (joined.length > 0) lines.push(`Now also working in this repository: ${[...new Set(joined)].slice(0, DIGEST_LIST_MAX).join(', ')}${more(new Set(joined).size)}.`);
  return lines;
}

/** A task event: `agent` claimed it where an earlier claimer left a checkpoint (a line of its digest). */
export const isResume = (topic: string, t: Record<string, unknown>, agent: string): boolean => topic === 'task.claimed' && t.claimed_by === agent && typeof t.resume === 'string';
/** A task event: Koor released `agent`'s claim because it went stale (a line of its digest). */
export const isLostClaim = (topic: string, t: Record<string, unknown>, agent: string): boolean => topic === 'task.released' && t.released_from === agent && t.reason === 'stale';

/**
 * An upper estimate of a text's o200k tokens without the tokenizer (2 MB of ranks the server does
 * not load): letters and digits at most 2.2 to a token (names, paths and words take more per
 * token; ids mixing letters and digits and long runs of one letter tokenize worst, at about 2.3),
 * other ASCII (spaces, punctuation, quotes) at most 1.2 to a token, anything else a token per
 * UTF-16 unit (CJK, emoji, `…`).
 */
export function tokenEstimate(s: string): number {
  let word = 0;
  let other = 0;
  let wide = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) word++;
    else if (c < 128) other++;
    else wide++;
  }
  return Math.ceil(word / 2.2 + other / 1.2 + wide);
}

/** `s` cut to an estimate of at most `tokens`, ending in `…` when cut. */
function cut(s: string, tokens: number): string {
  if (tokenEstimate(s) <= tokens) return s;
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tokenEstimate(s.slice(0, mid)) + 1 <= tokens) lo = mid;
    else hi = mid - 1;
  }
  return `${s.slice(0, lo)}…`;
}

/** The lines as one text within `tokens` (estimated from above), or null when there are none. */
export function digestText(lines: readonly string[], tokens: number, heading = 'Koor:'): string | null {
  return digestFit(lines, tokens, heading).text;
}

/**
 * The lines as one text within `tokens`, and how many of them it shows (each maybe shortened);
 * the rest it points to with `- more: koor-cli digest` (the caller holds them for the next digest).
 */
export function digestFit(lines: readonly string[], tokens: number, heading = 'Koor:'): { text: string | null; shown: number } {
  if (lines.length === 0) return { text: null, shown: 0 };
  const more = '\n- more: koor-cli digest';
  const room = tokens - tokenEstimate(heading) - tokenEstimate(more);
  // One long line (many long names) must not crowd out the others: each of the first three gets a
  // fair share, and what a shorter one leaves of its share goes to the longer ones.
  const costs = lines.slice(0, 3).map((l) => tokenEstimate(`\n- ${l}`)).sort((a, b) => a - b);
  let left = room;
  let share = Math.floor(room / costs.length);
  for (let i = 0; i < costs.length - 1 && costs[i]! <= share; i++) {
    left -= costs[i]!;
    share = Math.floor(left / (costs.length - 1 - i));
  }
  share = Math.max(40, share);
  let text = heading;
  let used = 0;
  let shown = 0;
  for (const full of lines) {
    const line = `\n- ${cut(full, share - 2)}`;
    const cost = tokenEstimate(line);
    if (used + cost > room) break;
    text += line;
    used += cost;
    shown++;
  }
  // Not even the first line fitted its share: it goes in cut to the whole room (its rest: `more`).
  if (shown === 0) text += `\n- ${cut(lines[0]!, room - 2)}`;
  if (shown < lines.length) text += more;
  return { text, shown: Math.max(shown, 1) };
}

/**
 * The lines a digest shows: those an earlier digest had no room for first (older news), then the
 * new ones, each once.
 */
export function withHeld(held: readonly string[], lines: readonly string[]): string[] {
  if (held.length === 0) return lines as string[];
  const out = [...held];
  for (const l of lines) if (!out.includes(l)) out.push(l);
  return out;
}

/** Lines a digest had no room for, as the session holds them: the oldest, each within its bound. */
export const heldOf = (lines: readonly string[]): string[] => lines.slice(0, HOOK_HELD_LINES).map((l) => (l.length > HOOK_HELD_LINE_CHARS ? `${l.slice(0, HOOK_HELD_LINE_CHARS - 1)}…` : l));

/** The reason of an edit refused because its lease could not be checked in time (deadline.ts), as the model reads it. */
export function unconfirmedReason(file: string): string {
  return `Koor: could not confirm in time that no other agent leases ${file} (the server is slow or cut off from its database). Do not edit it yet: try again in a moment.`;
}

/** The reason of an edit refused because another agent leases the file, as the model reads it. */
export function leasedReason(rel: string, lease: Pick<Lease, 'holder_name' | 'reason' | 'acquired_at'>): string {
  const why = lease.reason !== '' ? ` (${JSON.stringify(lease.reason)})` : '';
  // `HH:MM UTC` of the lease's RFC 3339 time.
  return (
    `Koor: ${rel} is leased by agent ${lease.holder_name} since ${lease.acquired_at.slice(11, 16)} UTC${why}. Do not edit it now: work on other files, ` +
    `or ask them: koor-cli send ${lease.holder_name} "<your request>". Check again: koor-cli lease check ${rel}`
  );
}
