import { Type, type Static } from '../typebox.js';
import { ImportanceSchema, MESSAGE, RECIPIENT } from '../db/tables/messages.js';
export type { Importance } from '../db/tables/messages.js';

/** The agent inbox's REST bodies and replies. */

/**
 * POST /api/messages. `to`: instance ids, instance names (every live instance of the name),
 * `project:<p>` (every live agent of that workspace/project) or `*` (every live agent).
 */
export const SendBody = Type.Object({
  to: Type.Optional(Type.Union([Type.Array(Type.String()), Type.String()])),
  subject: Type.Optional(Type.String()),
  body: Type.Optional(Type.String()),
  thread_id: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  reply_to: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  importance: Type.Optional(ImportanceSchema),
  ack_required: Type.Optional(Type.Boolean()),
});

/** POST /api/inbox/read: these items, or every item up to an id. */
export const ReadBody = Type.Object({
  ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
  up_to: Type.Optional(Type.Integer({ minimum: 0 })),
});

/** A message as sent: the reply of POST /api/messages, each element of GET /api/threads/{id}. */
export const Message = MESSAGE.Wire;
export type Message = Static<typeof Message>;

/** One of the caller's inbox items: the message and the caller's own read/ack times ("" until then). */
export const InboxItem = Type.Object({ ...Message.properties, ...RECIPIENT.Wire.properties });
export type InboxItem = Static<typeof InboxItem>;

/** GET /api/inbox, oldest first. */
export const InboxReply = Type.Array(InboxItem);

/** A recipient's read/ack state of a message. */
export const Receipt = Type.Object({ recipient: Type.String(), name: Type.String(), ...RECIPIENT.Wire.properties });
export type Receipt = Static<typeof Receipt>;

/** GET /api/messages/{id}: the message and every (still registered) recipient's state. */
export const MessageReceiptsReply = Type.Object({ ...Message.properties, receipts: Type.Array(Receipt) });

/** GET /api/threads/{id}: the thread's messages, oldest first. */
export const ThreadReply = Type.Array(Message);

/** POST /api/inbox/read: items newly marked, and what the caller has left unread. */
export const ReadReply = Type.Object({ marked: Type.Integer(), unread: Type.Integer() });
export type ReadReply = Static<typeof ReadReply>;

/** POST /api/inbox/{id}/ack. */
export const AckReply = Type.Object({ id: Type.Integer(), ...RECIPIENT.Wire.properties });
export type AckReply = Static<typeof AckReply>;
