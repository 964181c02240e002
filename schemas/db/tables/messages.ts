import { Type } from '../../typebox.js';
import { f, hidden, named, record, shown } from '../record.js';
import { dialects } from '../sql.js';

/** A message's importance, as its sender set it. */
const IMPORTANCE = ['normal', 'high'] as const;
export type Importance = (typeof IMPORTANCE)[number];
export const ImportanceSchema = Type.Unsafe<Importance>(Type.Union(IMPORTANCE.map((s) => Type.Literal(s))));

/**
 * The agent inbox: addressed messages, and each recipient's read and ack state. A message's reply
 * is the reply of POST /api/messages and each element of GET /api/threads/{id}.
 *
 * Ids are `counter`, not `log`: a recipient's push stream resumes from `since=<id>`, which is
 * only safe when a committed id n is never followed by a smaller id committing later (a
 * PostgreSQL identity can commit 7 before 6, and a subscriber past 7 would never see 6). The cost
 * is that senders serialise on the `messages` counter row for their commit, as event publishers
 * already do.
 */
export const MESSAGE = record(
  'messages',
  {
    id: f.int({ id: 'counter' }),
    /** The sender's instance id, or `human` (the operator). */
    from_id: named('from', f.text()),
    from_name: f.text(),
    /** The `to` entries as the sender wrote them (ids, names, `project:<p>`, `*`); named `to_json`: TO is a reserved word in PostgreSQL. */
    to_json: named('to', f.list(Type.String())),
    /**
     * The instance ids they resolved to when it was sent: the message as sent never changes,
     * while message_recipients rows go with a deregistered recipient.
     */
    recipients: f.list(Type.String()),
    subject: f.text({ default: "''" }),
    body: f.text(),
    /** The id of the thread's first message (its own id when it starts one). */
    thread_id: f.int(),
    /** The message this answers. */
    reply_to: f.ref(),
    importance: shown(f.text({ default: "'normal'" }), ImportanceSchema),
    ack_required: f.bool({ default: 0 }),
    created_at: f.time(),
  },
  {
    indexes: [
      // a thread read, in id order
      { name: 'messages_thread', on: 'thread_id, id' },
      // retention: the oldest first
      { name: 'messages_created_at', on: 'created_at' },
    ],
    // The order replies have always had: the thread before the text.
    replyOrder: ['id', 'from_id', 'from_name', 'to_json', 'recipients', 'thread_id', 'reply_to', 'subject', 'body', 'importance', 'ack_required', 'created_at'],
  },
);
export const MESSAGES = MESSAGE.table;
/** A messages row as the database returns it (lists JSON text, ack_required 0 or 1). */
export type MessageDbRow = Parameters<typeof MESSAGE.decode>[0];

/**
 * One row per recipient of a message: its own read and ack state ('' until then), which is its
 * reply (an inbox item's, a receipt's, an ack's). Keyed by recipient first, so an inbox page after
 * `since` is one range of the primary key; deleting a message (retention) deletes its rows by the
 * reference.
 */
export const RECIPIENT = record(
  'message_recipients',
  {
    recipient: hidden(f.text()),
    message_id: hidden(f.int({ references: 'messages (id)' })),
    read_at: shown(f.time({ default: "''" }), Type.String()),
    acked_at: shown(f.time({ default: "''" }), Type.String()),
  },
  {
    primaryKey: ['recipient', 'message_id'],
    withoutRowid: true,
    indexes: [
      // a message's recipients (its read/ack state, and the cascade when it is pruned)
      { name: 'message_recipients_message', on: 'message_id' },
      // an unread-only inbox page and the unread count skip what was read
      { name: 'message_recipients_unread', on: 'recipient, message_id', where: "read_at = ''" },
    ],
  },
);
export const MESSAGE_RECIPIENTS = RECIPIENT.table;

/** The newest message id handed out (no row before the first): SQLite's AUTOINCREMENT sequence, PostgreSQL's `messages` counter. */
export const NEWEST_MESSAGE = dialects({
  sqlite: "SELECT seq AS id FROM sqlite_sequence WHERE name = 'messages'",
  pg: "SELECT value AS id FROM koor_counters WHERE name = 'messages'",
});
