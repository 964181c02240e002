/**
 * Agent names for agent ids. The server hands out instance ids (UUIDs) in event data and sources;
 * a person reads names. The map is the roster (GET /api/instances) plus the id/name pairs the
 * server's own events carry (`from`/`from_name`, `holder`/`holder_name`, …), so an agent that has
 * since deregistered keeps its name in the events that mention it. The id stays one hover away.
 */
import type { EventReply as KoorEvent } from '../../schemas/http/events.js';
import type { InstanceSummary } from '../../schemas/http/instances.js';
import { html } from './ui.js';

export type Names = ReadonlyMap<string, string>;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** Id and name members of the server's events (message.sent, lease.*, task.*, agent.stale). */
const PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['from', 'from_name'],
  ['holder', 'holder_name'],
  ['claimed_by', 'claimed_by_name'],
  ['instance_id', 'name'],
];

/** Adds the id → name pairs carried by `events` to `into` (roster names are added after, and win). */
export function learnNames(events: readonly KoorEvent[], into: Map<string, string>): void {
  for (const e of events) {
    const d = e.data;
    if (d === null || typeof d !== 'object' || Array.isArray(d)) continue;
    const o = d as Record<string, unknown>;
    for (const [id, name] of PAIRS) {
      if (typeof o[id] === 'string' && typeof o[name] === 'string' && o[id] !== '' && o[name] !== '') into.set(o[id] as string, o[name] as string);
    }
    const ids = o.recipients;
    const names = o.recipient_names;
    if (Array.isArray(ids) && Array.isArray(names) && ids.length === names.length) {
      ids.forEach((id, i) => typeof id === 'string' && typeof names[i] === 'string' && names[i] !== '' && into.set(id, names[i] as string));
    }
  }
}

/** The map of a roster and some events. */
export function namesOf(roster: readonly InstanceSummary[], events: readonly KoorEvent[] = []): Map<string, string> {
  const m = new Map<string, string>();
  learnNames(events, m);
  for (const i of roster) if (i.name !== '') m.set(i.id, i.name);
  return m;
}

/** An agent by name when known (the id as a tooltip), else its id. */
export function AgentRef({ id, names }: { id: string; names: Names }) {
  const name = names.get(id);
  return name === undefined ? html`<code class="small">${id}</code>` : html`<span class="agent" title=${id} data-agent-id=${id}>${name}</span>`;
}

/**
 * `text` cut to `max` characters, with every known agent id in it replaced by the agent's name
 * (marked, the id as its tooltip). The cut counts the names, not the ids they replace.
 */
export function withNames(text: string, names: Names, max: number) {
  const parts: unknown[] = [];
  let used = 0;
  let at = 0;
  const push = (s: string): boolean => {
    if (used + s.length <= max) {
      parts.push(s);
      used += s.length;
      return true;
    }
    parts.push(`${s.slice(0, Math.max(0, max - used - 1))}…`);
    used = max;
    return false;
  };
  if (names.size > 0) {
    for (const m of text.matchAll(UUID)) {
      const name = names.get(m[0]);
      if (name === undefined) continue;
      if (!push(text.slice(at, m.index))) return parts;
      at = m.index! + m[0].length;
      if (used + name.length > max) {
        push(name);
        return parts;
      }
      parts.push(html`<span class="agent" title=${m[0]} data-agent-id=${m[0]}>${name}</span>`);
      used += name.length;
    }
  }
  push(text.slice(at));
  return parts;
}
