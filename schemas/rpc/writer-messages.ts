import { Type } from '../typebox.js';
import { ImportanceSchema } from '../db/tables/messages.js';
import type { MethodTable } from './envelope.js';
import { Events, MessageRow, RecipientRow } from './writer-rows.js';

/** The agent inbox's writer methods, part of WriterMethods (schemas/rpc/writer.ts). */

const Recipient = Type.String({ minLength: 1 });

export const MessageMethods = {
  /**
   * Stores a message and one inbox row per recipient, with a `message.sent` event (ids and
   * names, never the subject or body: the event bus is public). The front has resolved `to` into
   * instance ids; each must still be registered when this commits, or nothing is stored. Without
   * `thread_id` or `reply_to` the message starts a thread (its own id); `reply_to` joins the
   * thread of the message it answers.
   */
  'messages.send': {
    req: Type.Object({
      from: Type.String({ minLength: 1 }),
      from_name: Type.String(),
      to: Type.Array(Type.String()),
      recipients: Type.Array(Recipient, { minItems: 1 }),
      subject: Type.String(),
      body: Type.String(),
      thread_id: Type.Optional(Type.Integer()),
      reply_to: Type.Optional(Type.Integer()),
      importance: ImportanceSchema,
      ack_required: Type.Boolean(),
    }),
    res: Type.Object({ message: MessageRow, events: Events }),
  },
  /**
   * Marks the recipient's items read: the listed ones, or every one up to an id. Already read
   * ones keep their first read time. `unread`: what the recipient has left unread after.
   */
  'messages.mark_read': {
    req: Type.Union([
      Type.Object({ recipient: Recipient, ids: Type.Array(Type.Integer(), { maxItems: 1000 }) }),
      Type.Object({ recipient: Recipient, up_to: Type.Integer() }),
    ]),
    res: Type.Object({ marked: Type.Integer(), unread: Type.Integer() }),
  },
  /** Acknowledges one item (and so reads it); again keeps the first times. NOT_FOUND unless a recipient. */
  'messages.ack': {
    req: Type.Object({ recipient: Recipient, id: Type.Integer() }),
    res: RecipientRow,
  },
  /**
   * One bounded retention turn: deletes up to `chunk` of the oldest messages older
   * than `before` (storage text), their inbox rows with them. `more` when a full chunk went.
   */
  'messages.prune': {
    req: Type.Object({ before: Type.String(), chunk: Type.Integer({ minimum: 1 }) }),
    res: Type.Object({ deleted: Type.Integer(), more: Type.Boolean() }),
  },
} satisfies MethodTable;
