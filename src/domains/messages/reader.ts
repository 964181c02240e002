import { MESSAGE, RECIPIENT, type MessageDbRow } from '../../../schemas/db/tables/messages.js';
import type { RecipientRow } from '../../../schemas/rpc/writer.js';
import { dialects, sql } from '../../../schemas/db/sql.js';
import { then, type Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';

export interface InboxFilter {
  /** Items after this message id (the push stream's resume cursor). */
  since: number;
  unread: boolean;
  thread: number | null;
  limit: number;
}

/** An inbox item: the message and the reader's own recipient row. */
export type InboxDbRow = MessageDbRow & RecipientRow;

/** Read-only queries of the agent inbox; SQLite answers at once, PostgreSQL with a promise. Nothing here changes state. */
export interface MessageReader {
  /** `recipient`'s items after `f.since`, oldest first. */
  inbox(recipient: string, f: InboxFilter): Awaitable<InboxDbRow[]>;
  get(id: number): Awaitable<MessageDbRow | undefined>;
  /** The message and every recipient's read/ack state (by recipient id), from one snapshot. */
  withRecipients(id: number): Awaitable<{ message: MessageDbRow; recipients: RecipientRow[] } | undefined>;
  /** A thread's messages after `after`, oldest first. */
  thread(threadId: number, after: number, limit: number): Awaitable<MessageDbRow[]>;
  /** Whether `who` sent or still receives a message of the thread (who may read it). */
  inThread(threadId: number, who: string): Awaitable<boolean>;
  unread(recipient: string): Awaitable<number>;
  /** Unread items per recipient that has any (the `koor_inbox_unread` gauge). */
  unreadByRecipient(): Awaitable<Array<{ recipient: string; n: number }>>;
  /** The newest message id in `recipient`'s inbox (0: none): where a push stream without `since` starts. */
  newest(recipient: string): Awaitable<number>;
}

/** An inbox row's columns: the message's (`m`), then the recipient's (`r`). */
const INBOX_COLUMNS = [...MESSAGE.columns.split(', ').map((c) => `m.${c}`), ...RECIPIENT.columns.split(', ').map((c) => `r.${c}`)].join(', ');

/**
 * One range of message_recipients' primary key (recipient, message_id), each message by its id.
 * Parameters: recipient, since, thread ×2, limit. The unread page walks the partial unread index instead.
 */
function inboxQuery(unread: boolean) {
  const read = unread ? " AND r.read_at = ''" : '';
  const from = 'FROM message_recipients r JOIN messages m ON m.id = r.message_id WHERE r.recipient = ? AND r.message_id > ?';
  return dialects({
    sqlite: `SELECT ${INBOX_COLUMNS} ${from}${read} AND (? IS NULL OR m.thread_id = ?) ORDER BY r.message_id LIMIT CAST(? AS bigint)`,
    pg: `SELECT ${INBOX_COLUMNS} ${from}${read} AND (CAST(? AS bigint) IS NULL OR m.thread_id = ?) ORDER BY r.message_id LIMIT CAST(? AS bigint)`,
  });
}

const GET = sql(`SELECT ${MESSAGE.columns} FROM messages WHERE id = ?`);
const RECIPIENTS = sql(`SELECT ${RECIPIENT.columns} FROM message_recipients WHERE message_id = ? ORDER BY recipient`);
const THREAD = sql(`SELECT ${MESSAGE.columns} FROM messages WHERE thread_id = ? AND id > ? ORDER BY id LIMIT CAST(? AS bigint)`);
/** Parameters: thread, who ×2. */
const IN_THREAD = sql(
  `SELECT 1 AS found FROM messages m WHERE m.thread_id = ?
     AND (m.from_id = ? OR EXISTS (SELECT 1 FROM message_recipients r WHERE r.recipient = ? AND r.message_id = m.id)) LIMIT 1`,
);
const UNREAD = sql("SELECT count(*) AS n FROM message_recipients WHERE recipient = ? AND read_at = ''");
const UNREAD_BY = sql("SELECT recipient, count(*) AS n FROM message_recipients WHERE read_at = '' GROUP BY recipient ORDER BY recipient");
const NEWEST = sql('SELECT coalesce(max(message_id), 0) AS n FROM message_recipients WHERE recipient = ?');

/** An id no row can have (beyond int8, where PostgreSQL would refuse the parameter) finds nothing. */
const findable = (id: number): boolean => Number.isSafeInteger(id);

/** The inbox's reads, on either backend. */
export function messageReader(db: Reads): MessageReader {
  const all = db.statement<InboxDbRow>(inboxQuery(false));
  const unreadOnly = db.statement<InboxDbRow>(inboxQuery(true));
  const get = db.statement<MessageDbRow>(GET);
  const recipients = db.statement<RecipientRow>(RECIPIENTS);
  const thread = db.statement<MessageDbRow>(THREAD);
  const inThread = db.statement<{ found: number }>(IN_THREAD);
  const unread = db.statement<{ n: number }>(UNREAD);
  const unreadBy = db.statement<{ recipient: string; n: number }>(UNREAD_BY);
  const newest = db.statement<{ n: number }>(NEWEST);
  return {
    inbox(recipient, f) {
      if (!findable(f.since) || (f.thread !== null && !findable(f.thread))) return [];
      return (f.unread ? unreadOnly : all).all(recipient, f.since, f.thread, f.thread, f.limit);
    },
    get: (id) => (findable(id) ? get.get(id) : undefined),
    withRecipients(id) {
      if (!findable(id)) return undefined;
      return db.consistent(() => {
        const m = get.get(id);
        const r = recipients.all(id);
        return then(m, (message) => then(r, (rows) => (message ? { message, recipients: rows } : undefined)));
      });
    },
    thread: (threadId, after, limit) => (findable(threadId) && findable(after) ? thread.all(threadId, after, limit) : []),
    inThread: (threadId, who) => (findable(threadId) ? then(inThread.get(threadId, who, who), (r) => r !== undefined) : false),
    unread: (recipient) => then(unread.get(recipient), (r) => Number(r!.n)),
    unreadByRecipient: () => then(unreadBy.all(), (rows) => rows.map((r) => ({ recipient: r.recipient, n: Number(r.n) }))),
    newest: (recipient) => then(newest.get(recipient), (r) => Number(r!.n)),
  };
}
