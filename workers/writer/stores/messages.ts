import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { MessageRow, RecipientRow, WriterMethods } from '../../../schemas/rpc/writer.js';
import { RECIPIENT } from '../../../schemas/db/tables/messages.js';
import { fault } from '../fault.js';
import { dialects, sql, type Tx } from '../sql.js';
import { storageNow } from '../../../schemas/db/time.js';
import type { EventStore } from './events.js';

type M = WriterMethods;

/**
 * Ids (Tx.insert): SQLite's AUTOINCREMENT; on PostgreSQL the `messages` counter row, taken under the write
 * lock, so ids commit in id order and a recipient's `since` cursor never skips one (as event ids).
 * `thread_id` is set after the insert when the message starts its own thread.
 */
const INSERT = dialects({
  sqlite: `INSERT INTO messages (from_id, from_name, to_json, recipients, subject, body, thread_id, reply_to, importance, ack_required, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  pg: `WITH c AS (UPDATE koor_counters SET value = value + 1 WHERE name = 'messages' RETURNING value)
       INSERT INTO messages (id, from_id, from_name, to_json, recipients, subject, body, thread_id, reply_to, importance, ack_required, created_at)
       SELECT value, ?, ?, ?, ?, ?, ?, CAST(? AS bigint), CAST(? AS bigint), ?, CAST(? AS bigint), ? FROM c RETURNING id`,
});
const OWN_THREAD = sql('UPDATE messages SET thread_id = id WHERE id = ?');
const THREAD_OF = sql('SELECT thread_id FROM messages WHERE id = ?');
const THREAD_EXISTS = sql('SELECT thread_id FROM messages WHERE thread_id = ? LIMIT 1');
const RECIPIENT_NAME = sql('SELECT name FROM instances WHERE id = ?');
const INSERT_RECIPIENT = sql('INSERT INTO message_recipients (recipient, message_id) VALUES (?, ?)');
/** Marking keeps the first read time: only unread rows change (and the unread index shrinks). */
const MARK_IDS = dialects({
  sqlite: "UPDATE message_recipients SET read_at = ? WHERE recipient = ? AND read_at = '' AND message_id IN (SELECT value FROM json_each(?))",
  pg: `UPDATE message_recipients SET read_at = ? WHERE recipient = ? AND read_at = ''
       AND message_id IN (SELECT CAST(jsonb_array_elements_text(CAST(? AS text)::jsonb) AS bigint))`,
});
const MARK_UP_TO = sql("UPDATE message_recipients SET read_at = ? WHERE recipient = ? AND read_at = '' AND message_id <= ?");
const UNREAD = sql("SELECT count(*) AS n FROM message_recipients WHERE recipient = ? AND read_at = ''");
/** Parameters: now, now, recipient, id. */
const ACK = sql(
  `UPDATE message_recipients
   SET read_at = CASE WHEN read_at = '' THEN CAST(? AS text) ELSE read_at END,
       acked_at = CASE WHEN acked_at = '' THEN CAST(? AS text) ELSE acked_at END
   WHERE recipient = ? AND message_id = ? RETURNING ${RECIPIENT.columns}`,
);
/** The oldest first, ties by id (SQLite's created_at index walks them in rowid = id order); inbox rows go by the reference. */
const PRUNE = sql('DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE created_at < ? ORDER BY created_at, id LIMIT CAST(? AS bigint))');
const DROP_INBOX = sql('DELETE FROM message_recipients WHERE recipient = ?');

/** An id no row can have (beyond int8, where PostgreSQL would refuse the parameter) finds nothing. */
const findable = (id: number): boolean => Number.isSafeInteger(id);

/**
 * The agent inbox: messages stored with one row per recipient carrying that
 * recipient's read and ack state, so reading one's inbox never touches anyone else's.
 */
export function messageStore(events: EventStore) {
  /** The thread a new message joins (0 = it starts its own), checked against what it names. */
  async function threadFor(tx: Tx, req: ReqOf<M, 'messages.send'>): Promise<number> {
    let thread = 0;
    if (req.reply_to !== undefined) {
      const r = findable(req.reply_to) ? await tx.get<{ thread_id: number }>(THREAD_OF, req.reply_to) : undefined;
      if (!r) throw fault('UNKNOWN_REPLY_TO', req.reply_to);
      thread = r.thread_id;
    }
    if (req.thread_id !== undefined) {
      if (thread !== 0 && thread !== req.thread_id) throw fault('REPLY_OTHER_THREAD', req.reply_to!, req.thread_id);
      if (thread === 0 && !(findable(req.thread_id) && (await tx.get(THREAD_EXISTS, req.thread_id)))) throw fault('UNKNOWN_THREAD', req.thread_id);
      thread = req.thread_id;
    }
    return thread;
  }

  return {
    async send(tx: Tx, req: ReqOf<M, 'messages.send'>): Promise<ResOf<M, 'messages.send'>> {
      const recipients = [...new Set(req.recipients)];
      // Resolved by the front, but one may have deregistered since: nothing is stored then, as
      // for a recipient the front could not resolve.
      const names: string[] = [];
      const gone: string[] = [];
      for (const id of recipients) {
        const r = await tx.get<{ name: string }>(RECIPIENT_NAME, id);
        if (r) names.push(r.name);
        else gone.push(id);
      }
      if (gone.length > 0) throw fault('UNKNOWN_RECIPIENTS', gone);
      const thread = await threadFor(tx, req);
      const created_at = storageNow();
      const reply_to = req.reply_to ?? 0;
      const id = await tx.insert(
        INSERT, req.from, req.from_name, JSON.stringify(req.to), JSON.stringify(recipients), req.subject, req.body,
        thread, reply_to, req.importance, req.ack_required ? 1 : 0, created_at,
      );
      if (thread === 0) await tx.run(OWN_THREAD, id);
      for (const r of recipients) await tx.run(INSERT_RECIPIENT, r, id);
      const message: MessageRow = {
        id, from_id: req.from, from_name: req.from_name, to_json: req.to, recipients, subject: req.subject, body: req.body,
        thread_id: thread || id, reply_to, importance: req.importance, ack_required: req.ack_required, created_at,
      };
      // The event bus is public (a `*` subscriber sees it): ids and names only, never the subject or body.
      const data = JSON.stringify({
        id, thread_id: message.thread_id, reply_to, from: req.from, from_name: req.from_name, recipients, recipient_names: names,
        importance: req.importance, ack_required: req.ack_required,
      });
      return { message, events: [await events.publish(tx, { topic: 'message.sent', data, source: 'messages' })] };
    },

    async markRead(tx: Tx, req: ReqOf<M, 'messages.mark_read'>): Promise<ResOf<M, 'messages.mark_read'>> {
      const now = storageNow();
      const marked = 'ids' in req
        ? await tx.run(MARK_IDS, now, req.recipient, JSON.stringify(req.ids.filter(findable)))
        : findable(req.up_to) ? await tx.run(MARK_UP_TO, now, req.recipient, req.up_to) : 0;
      const unread = (await tx.get<{ n: number }>(UNREAD, req.recipient))!.n;
      return { marked, unread };
    },

    async ack(tx: Tx, req: ReqOf<M, 'messages.ack'>): Promise<ResOf<M, 'messages.ack'>> {
      const now = storageNow();
      const r = findable(req.id) ? await tx.get<RecipientRow>(ACK, now, now, req.recipient, req.id) : undefined;
      if (!r) throw fault('MESSAGE_NOT_FOUND', req.id);
      return r;
    },

    async prune(tx: Tx, req: ReqOf<M, 'messages.prune'>): Promise<ResOf<M, 'messages.prune'>> {
      const deleted = await tx.run(PRUNE, req.before, req.chunk);
      return { deleted, more: deleted === req.chunk };
    },

    /** A deregistered instance's inbox goes with it; the messages stay for their other recipients and sender. */
    async dropInbox(tx: Tx, recipient: string): Promise<number> {
      return tx.run(DROP_INBOX, recipient);
    },
  };
}
