import { dialects, sql, type Query } from '../../../schemas/db/sql.js';
import { HOOK_SESSION, type HookSessionRow } from '../../../schemas/db/tables/hooks.js';
import { DIGEST_AUDIT, NEWEST_AUDIT } from '../../../schemas/db/tables/audit.js';
import { NEWEST_EVENT, OLDEST_EVENT } from '../../../schemas/db/tables/events.js';
import type { Event, HookSession } from '../../../schemas/rpc/writer.js';
import { then, type Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';


/** An audit entry a digest reports (rules accepted, specs changed, agents joining). */
export interface AuditNews {
  id: number;
  actor: string;
  action: string;
  resource: string;
  detail: string;
  /** An `instance.register` entry's project (its workspace's), once a digest has worked it out: entries a node keeps serve many digests (audit-tail.ts). */
  project?: string;
}

/** An event a digest reports (EVENTS_AFTER's topics). */
type EventNews = Pick<Event, 'id' | 'topic' | 'data'>;

/**
 * A session's row and what its digest would find, from one snapshot in one statement: the logs'
 * ends, and whether an event or audit entry a digest reports lies past where it read up to (the
 * greater of its row's cursor and `eventFrom` / `auditFrom`: how far this node read for it), or
 * an unread message past its message cursor. Where rows are not kept (a cluster's node: another
 * node writes them too), a hook that finds nothing past them reads nothing more.
 */
export interface HookProbe {
  session: HookSession;
  /** Where its digest read the logs up to: the greater of the cursor and what the probe was given. */
  eventFrom: number;
  auditFrom: number;
  newestEvent: number;
  newestAudit: number;
  oldestEvent: number;
  eventNews: boolean;
  auditNews: boolean;
  messageNews: boolean;
}

/** Read-only queries of the hooks' sessions and of what their digests report; nothing here changes state. */
export interface HookReader {
  session(id: string): Awaitable<HookSession | undefined>;
  /** The newest session bound to an instance, if any. */
  sessionOf(instanceId: string): Awaitable<HookSession | undefined>;
  /** The entries after `after` up to `upto` with one of the actions a digest reports, oldest first. */
  auditAfter(after: number, upto: number, limit: number): Awaitable<AuditNews[]>;
  /** The newest audit entry's id (0: none). */
  newestAudit(): Awaitable<number>;
  /** The events a digest reads (tasks, leases taken, budgets exceeded) after `after` up to `upto`, oldest first: the others are not read at all. */
  eventsAfter(after: number, upto: number, limit: number): Awaitable<EventNews[]>;
  /** The newest event id handed out (0: none). */
  newestEvent(): Awaitable<number>;
  /** The oldest event id retention kept (0: none). */
  oldestEvent(): Awaitable<number>;
  probe(id: string, eventFrom: number, auditFrom: number): Awaitable<HookProbe | undefined>;
}

const COLS = HOOK_SESSION.columns;
const SESSION = sql(`SELECT ${COLS} FROM hook_sessions WHERE session_id = ?`);
const SESSION_OF = sql(`SELECT ${COLS} FROM hook_sessions WHERE instance_id = ? ORDER BY created_at DESC LIMIT 1`);
const AUDIT_AFTER = sql(`SELECT id, actor, action, resource, detail FROM audit_log WHERE id > ? AND id <= ? AND ${DIGEST_AUDIT} ORDER BY id LIMIT CAST(? AS bigint)`);
/** The topics a digest reads (src/domains/hooks/digest.ts): every `task.*` and these. */
const DIGEST_TOPICS = ['lease.acquired', 'lease.released', 'budget.exceeded'] as const;
/** Whether a digest reads events of `topic`. */
export const isDigestTopic = (topic: string): boolean => topic.startsWith('task.') || (DIGEST_TOPICS as readonly string[]).includes(topic);
/** substr works alike in both dialects. */
const DIGEST_EVENT = `(substr(topic, 1, 5) = 'task.' OR topic IN (${DIGEST_TOPICS.map((t) => `'${t}'`).join(', ')}))`;
const EVENTS_AFTER = sql(`SELECT id, topic, data FROM events WHERE id > ? AND id <= ? AND ${DIGEST_EVENT} ORDER BY id LIMIT CAST(? AS bigint)`);

/** The probe (HookProbe). Parameters: eventFrom, auditFrom, session id. Each EXISTS walks a primary key's range from where the session read up to. */
const probe = (d: keyof Query, greatest: string) => `SELECT ${COLS}, n.newest_event, n.newest_audit, n.oldest_event,
    EXISTS (SELECT 1 FROM events WHERE id > ${greatest}(s.event_cursor, ?) AND id <= n.newest_event AND ${DIGEST_EVENT}) AS event_news,
    EXISTS (SELECT 1 FROM audit_log WHERE id > ${greatest}(s.audit_cursor, ?) AND id <= n.newest_audit AND ${DIGEST_AUDIT}) AS audit_news,
    EXISTS (SELECT 1 FROM message_recipients r WHERE r.recipient = s.instance_id AND r.message_id > s.message_cursor AND r.read_at = '') AS message_news
  FROM hook_sessions s, (SELECT coalesce((${NEWEST_EVENT[d]}), 0) AS newest_event, coalesce((${NEWEST_AUDIT[d]}), 0) AS newest_audit, (${OLDEST_EVENT[d]}) AS oldest_event) n
  WHERE s.session_id = ?`;
const PROBE = dialects({ sqlite: probe('sqlite', 'max'), pg: probe('pg', 'greatest') });
type ProbeRow = HookSessionRow & { newest_event: number | string; newest_audit: number | string; oldest_event: number | string | null; event_news: unknown; audit_news: unknown; message_news: unknown };

export function hookReader(db: Reads): HookReader {
  const session = db.statement<HookSessionRow>(SESSION);
  const sessionOf = db.statement<HookSessionRow>(SESSION_OF);
  const decode = (r: HookSessionRow | undefined): HookSession | undefined => (r ? HOOK_SESSION.decode(r) : undefined);
  const audit = db.statement<AuditNews>(AUDIT_AFTER);
  const newestAudit = db.statement<{ id: number }>(NEWEST_AUDIT);
  const eventsAfter = db.statement<EventNews>(EVENTS_AFTER);
  const newestEvent = db.statement<{ id: number }>(NEWEST_EVENT);
  const oldestEvent = db.statement<{ id: number | null }>(OLDEST_EVENT);
  const probed = db.statement<ProbeRow>(PROBE);
  return {
    session: (id) => then(session.get(id), decode),
    sessionOf: (id) => then(sessionOf.get(id), decode),
    auditAfter: (after, upto, limit) => then(audit.all(after, upto, limit), (rows) => rows.map((r) => ({ ...r, id: Number(r.id) }))),
    newestAudit: () => then(newestAudit.get(), (r) => Number(r?.id ?? 0)),
    eventsAfter: (after, upto, limit) => then(eventsAfter.all(after, upto, limit), (rows) => rows.map((r) => ({ ...r, id: Number(r.id) }))),
    newestEvent: () => then(newestEvent.get(), (r) => Number(r?.id ?? 0)),
    oldestEvent: () => then(oldestEvent.get(), (r) => Number(r?.id ?? 0)),
    probe: (id, eventFrom, auditFrom) =>
      then(probed.get(eventFrom, auditFrom, id), (r) =>
        r
          ? {
              session: HOOK_SESSION.decode(r),
              eventFrom: Math.max(Number(r.event_cursor), eventFrom),
              auditFrom: Math.max(Number(r.audit_cursor), auditFrom),
              newestEvent: Number(r.newest_event),
              newestAudit: Number(r.newest_audit),
              oldestEvent: Number(r.oldest_event ?? 0),
              // PostgreSQL's booleans; SQLite's 0 or 1.
              eventNews: Boolean(r.event_news),
              auditNews: Boolean(r.audit_news),
              messageNews: Boolean(r.message_news),
            }
          : undefined,
      ),
  };
}
