import type { HookSession } from '../../../schemas/rpc/writer.js';
import { HOOK_SCAN_AUDIT, HOOK_SCAN_EVENTS, HOOK_SCAN_MESSAGES } from '../../shared/limits-features.js';
import type { MessageReader } from '../messages/reader.js';
import { prunedAfter } from './briefing.js';
import type { Me } from './digest.js';
import type { NewsClock } from './news-clock.js';
import type { HookProbe, HookReader } from './reader.js';

/**
 * The news after a session's cursors: its unread messages after the message cursor, and the
 * events and audit entries a digest reads after the event and audit cursors — or after what
 * this node already scanned for the session (`hint`), so a quiet session on a busy bus does
 * not read the same stretch of the log at every hook. What this hook's probe (a cluster's,
 * reader.ts) found nothing of is not read. `*Through`: how far the scans reached.
 */
export async function gather(
  d: { reader: HookReader; messages: MessageReader; clock: NewsClock | null; feed: NewsClock | null },
  s: HookSession,
  me: Me,
  hint: { event: number; audit: number } | undefined,
  probe: HookProbe | null,
) {
  const eventFrom = probe?.eventFrom ?? Math.max(s.event_cursor, hint?.event ?? 0);
  const auditFrom = probe?.auditFrom ?? Math.max(s.audit_cursor, hint?.audit ?? 0);
  const clock = d.clock?.mark(me.id);
  // The events the tail still holds are taken from it, parsed, all at once; only a session further behind reads them.
  // A cluster's node takes them from the feed's tail when it has published every one stored when the probe read.
  const kept = d.clock?.events(eventFrom) ?? (probe?.eventNews ? (d.feed?.eventsThrough(eventFrom, probe.newestEvent) ?? null) : null);
  const [newestEvent, newestAudit, oldestEvent] = probe
    ? [probe.newestEvent, probe.newestAudit, probe.oldestEvent]
    : await Promise.all([kept ? clock!.event : d.reader.newestEvent(), d.reader.newestAudit(), d.reader.oldestEvent()]);
  const [messages, events, audit] = await Promise.all([
    probe?.messageNews === false ? [] : d.messages.inbox(me.id, { since: s.message_cursor, unread: true, thread: null, limit: HOOK_SCAN_MESSAGES }),
    kept ?? (probe?.eventNews === false ? [] : d.reader.eventsAfter(eventFrom, newestEvent, HOOK_SCAN_EVENTS)),
    probe?.auditNews === false ? [] : d.reader.auditAfter(auditFrom, newestAudit, HOOK_SCAN_AUDIT),
  ]);
  const eventThrough = !kept && events.length === HOOK_SCAN_EVENTS ? events.at(-1)!.id : Math.max(eventFrom, newestEvent);
  const auditThrough = audit.length === HOOK_SCAN_AUDIT ? audit.at(-1)!.id : Math.max(auditFrom, newestAudit);
  // Where the clock stood before these reads, less what a full scan left unread: a later hook reads on from there.
  const mark = clock && { event: !kept && events.length === HOOK_SCAN_EVENTS ? -1 : clock.event, epoch: audit.length === HOOK_SCAN_AUDIT ? -1 : clock.epoch, message: messages.length === HOOK_SCAN_MESSAGES ? -1 : clock.message };
  // Events the tail held are every one a digest reads since: retention may have pruned them stored, none is missed.
  return { messages, events, audit, eventThrough, auditThrough, mark, missed: kept ? 0 : prunedAfter(oldestEvent, eventFrom) };
}
