import { dialects } from '../sql.js';
import type { Table } from '../table.js';

/**
 * The agent inbox: addressed messages, and each recipient's read and ack state.
 *
 * Ids are `counter`, not `log`: a recipient's push stream resumes from `since=<id>`, which is
 * only safe when a committed id n is never followed by a smaller id committing later (a
 * PostgreSQL identity can commit 7 before 6, and a subscriber past 7 would never see 6). The cost
 * is that senders serialise on the `messages` counter row for their commit, as event publishers
 * already do.
 */
export const MESSAGES: Table = {
  name: 'messages',
  columns: {
    id: { type: 'int', id: 'counter' },
    from_id: { type: 'text' },
    from_name: { type: 'text' },
    /**
     * The `to` entries as the sender wrote them (ids, names, `project:<p>`, `*`), JSON text.
     * Named `to_json`: TO is a reserved word in PostgreSQL.
     */
    to_json: { type: 'text', default: "'[]'" },
    /**
     * The instance ids they resolved to when it was sent, JSON text: the message as sent never
     * changes, while message_recipients rows go with a deregistered recipient.
     */
    recipients: { type: 'text', default: "'[]'" },
    subject: { type: 'text', default: "''" },
    body: { type: 'text' },
    /** The id of the thread's first message (its own id when it starts one). */
    thread_id: { type: 'int' },
    /** The message this answers; 0 = none. */
    reply_to: { type: 'int', default: 0 },
    importance: { type: 'text', default: "'normal'" },
    ack_required: { type: 'int', default: 0 },
    created_at: { type: 'text' },
  },
  indexes: [
    // a thread read, in id order
    { name: 'messages_thread', on: 'thread_id, id' },
    // retention: the oldest first
    { name: 'messages_created_at', on: 'created_at' },
  ],
};

/**
 * One row per recipient of a message: its own read and ack state ('' until then). Keyed by
 * recipient first, so an inbox page after `since` is one range of the primary key; deleting a
 * message (retention) deletes its rows by the reference.
 */
export const MESSAGE_RECIPIENTS: Table = {
  name: 'message_recipients',
  columns: {
    recipient: { type: 'text' },
    message_id: { type: 'int', references: 'messages (id)' },
    read_at: { type: 'text', default: "''" },
    acked_at: { type: 'text', default: "''" },
  },
  primaryKey: ['recipient', 'message_id'],
  withoutRowid: true,
  indexes: [
    // a message's recipients (its read/ack state, and the cascade when it is pruned)
    { name: 'message_recipients_message', on: 'message_id' },
    // an unread-only inbox page and the unread count skip what was read
    { name: 'message_recipients_unread', on: 'recipient, message_id', where: "read_at = ''" },
  ],
};

/** The newest message id handed out (no row before the first): SQLite's AUTOINCREMENT sequence, PostgreSQL's `messages` counter. */
export const NEWEST_MESSAGE = dialects({
  sqlite: "SELECT seq AS id FROM sqlite_sequence WHERE name = 'messages'",
  pg: "SELECT value AS id FROM koor_counters WHERE name = 'messages'",
});
