/** The agent inbox as text: what `inbox`, `thread` and `wait` print for messages. */
import type { InboxItem, Message } from '../../schemas/http/messages.js';

/**
 * An agent (an LLM) reads this, so every token counts: one header line per message, the body
 * after it indented by two spaces (unambiguous where a message ends, whatever the body holds).
 * The header says only what is not the default: `[high]`, `[ack required]`, the thread when the
 * message is part of another one, the recipients when it went to more than this agent.
 *
 *   #42 ann -> project:web (3m ago) [high] [ack required] re #41: contract changed
 *     the /users contract changed,
 *     please regenerate the client
 */

/** An instance id (a UUID) shortened to its first 8 characters; names and `project:…` unchanged. */
export function shortId(s: string): string {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s) ? s.slice(0, 8) : s;
}

/** `12s ago`, `3m ago`, `2h ago`, `4d ago` from an RFC 3339 time ('' when it cannot be read). */
export function age(createdAt: string, now = Date.now()): string {
  const t = Date.parse(createdAt);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export interface HeaderOptions {
  /** Show whom it went to even when it was only this agent (`thread`: always). */
  showTo?: boolean;
  /** Printed as part of its thread: no `thread #<id>`. */
  inThread?: boolean;
  now?: number;
}

/** The one header line of a message (see above). */
export function messageHeader(m: Message | InboxItem, opts: HeaderOptions = {}): string {
  let h = `#${m.id} ${m.from_name}`;
  if (opts.showTo || m.recipients.length > 1) h += ` -> ${m.to.map(shortId).join(',')}`;
  const when = age(m.created_at, opts.now);
  if (when !== '') h += ` (${when})`;
  if (m.importance === 'high') h += ' [high]';
  if (m.ack_required) h += 'acked_at' in m && m.acked_at !== '' ? ' [acked]' : ' [ack required]';
  if ('read_at' in m && m.read_at !== '') h += ' [read]';
  if (m.reply_to !== null) h += ` re #${m.reply_to}`;
  if (!opts.inThread && m.thread_id !== m.id && m.thread_id !== m.reply_to) h += ` thread #${m.thread_id}`;
  if (m.subject !== '') h += `: ${oneLine(m.subject)}`;
  return h;
}

/** A message: its header line, then its body indented by two spaces (trailing blank lines dropped). */
export function messageText(m: Message | InboxItem, opts: HeaderOptions = {}): string {
  const body = m.body
    .replace(/\r\n?/g, '\n')
    .replace(/\s+$/, '')
    .split('\n')
    .map((l) => (l === '' ? '' : `  ${l}`))
    .join('\n');
  return body === '' ? `${messageHeader(m, opts)}\n` : `${messageHeader(m, opts)}\n${body}\n`;
}

/** The first line of a text, at most `max` characters (`…` when cut). */
export function preview(text: string, max = 100): string {
  const t = text.trim();
  const first = t.split(/\r?\n/, 1)[0]!;
  const more = first.length > max || t.length > first.length;
  return more ? `${first.slice(0, max).trimEnd()}…` : first;
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ');
}
