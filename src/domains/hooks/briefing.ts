import { fail } from '../../errors.js';
import { DIGEST_TOKENS, HOOK_SCAN_AUDIT, HOOK_SCAN_EVENTS, HOOK_SCAN_MESSAGES, ORIENTATION_TOKENS } from '../../shared/limits-features.js';
import { projectOf } from '../../shared/workspace.js';
import type { InstanceReader } from '../instances/reader.js';
import type { LeaseService } from '../leases/service.js';
import type { MessageReader } from '../messages/reader.js';
import type { TaskReader } from '../tasks/reader.js';
import { digestFit, digestLines, digestText, withHeld, type Me } from './digest.js';
import type { HookReader } from './reader.js';

/**
 * What a hook tells an agent that is not news of a turn: the orientation at its session's start,
 * and the digest anyone may read of it (`GET /api/agents/{id}/digest`). Both read; neither writes.
 */

interface Reads {
  reader: HookReader;
  messages: MessageReader;
  instances: InstanceReader;
  tasks: TaskReader;
  leases: LeaseService;
}

/**
 * Events retention pruned after a session's cursor before it read them (a long silence on a busy
 * log): the digest says how many rather than skipping them silently.
 */
export const prunedAfter = (oldestEvent: number, cursor: number): number => Math.max(0, oldestEvent - cursor - 1);

/**
 * SessionStart's orientation: who else works in this repository, what they hold, what is ready to
 * claim, what is unread — within ORIENTATION_TOKENS; null when there is none of it. `news`: the
 * lines of its unread messages (`shown` of `lines` fit the text).
 */
export async function orientationOf(d: Reads, me: Me) {
  const [others, leases, tasks, unread] = await Promise.all([
    d.instances.inProject(me.project, me.id, 4),
    d.leases.list({ holder: null, project: me.project, resource: null, limit: 50 }),
    d.tasks.list({ project: me.project, statuses: ['ready'], claimedBy: null, after: 0, limit: 4 }),
    d.messages.inbox(me.id, { since: 0, unread: true, thread: null, limit: HOOK_SCAN_MESSAGES }),
  ]);
  const lines: string[] = [];
  if (others.count > 0) lines.push(`Also working in this repository: ${others.rows.map((i) => (i.intent ? `${i.name} (${JSON.stringify(i.intent.slice(0, 60))})` : i.name)).join(', ')}${others.count > 4 ? ` and ${others.count - 4} more` : ''}.`);
  const held = leases.filter((l) => l.holder !== me.id);
  if (held.length > 0) lines.push(`Files leased by others (edits to them are refused): ${held.slice(0, 4).map((l) => `${l.resources.slice(0, 3).join(', ')} (${l.holder_name})`).join('; ')}${held.length > 4 ? ` and ${held.length - 4} more: koor-cli lease list` : ''}.`);
  if (tasks.length > 0) lines.push(`Tasks ready in ${me.project}: ${tasks.slice(0, 3).map((t) => `#${t.id} ${JSON.stringify(t.title.slice(0, 60))}`).join('; ')}. Claim one: koor-cli task claim ${me.project}`);
  const news = digestLines({ me, messages: unread, events: [], audit: [], edited: [] });
  lines.push(...news);
  if (lines.length === 0) return null;
  lines.push(`Message an agent: koor-cli send <name> "<text>".`);
  const { text, shown } = digestFit(lines, ORIENTATION_TOKENS, `Koor: you are agent ${me.name} (project ${me.project}).`);
  return { text: text!, lines, shown, news, unread };
}

/**
 * `GET /api/agents/{id}/digest`: what a digest would tell the agent now (since its session's
 * cursors; without a hook session, its unread messages and the recent log). Changes nothing.
 */
export async function digestOf(d: Reads, instanceId: string): Promise<string> {
  const i = await d.instances.get(instanceId);
  if (!i) throw fail('INSTANCE_NOT_FOUND', instanceId);
  const s = await d.reader.sessionOf(instanceId);
  const recent = async (newest: Promise<number> | number) => Math.max(0, (await newest) - HOOK_SCAN_AUDIT);
  const cursors = s ?? { event_cursor: await recent(d.reader.newestEvent()), audit_cursor: await recent(d.reader.newestAudit()), message_cursor: 0, edited: [], project: projectOf(i.workspace), repo_root: i.workspace };
  const me: Me = { id: i.id, name: i.name, project: cursors.project };
  // The events pruned past a cursor are a session's to be told of: without one, none is read.
  const [newestEvent, newestAudit, oldestEvent] = await Promise.all([d.reader.newestEvent(), d.reader.newestAudit(), s ? d.reader.oldestEvent() : 0]);
  const [messages, events, audit] = await Promise.all([
    d.messages.inbox(me.id, { since: cursors.message_cursor, unread: true, thread: null, limit: HOOK_SCAN_MESSAGES }),
    d.reader.eventsAfter(cursors.event_cursor, newestEvent, HOOK_SCAN_EVENTS),
    d.reader.auditAfter(cursors.audit_cursor, newestAudit, HOOK_SCAN_AUDIT),
  ]);
  const lines = withHeld(s?.held ?? [], digestLines({ me, messages, events, audit, edited: cursors.edited, denied: s?.denied ?? [], missed: s ? prunedAfter(oldestEvent, s.event_cursor) : 0 }));
  return JSON.stringify({ agent: i.id, name: i.name, text: digestText(lines, DIGEST_TOKENS), lines });
}
