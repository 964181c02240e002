import { Type, type Static } from '../typebox.js';
import { Instant } from './common.js';

/** The agent inbox's REST bodies and replies. */

export const IMPORTANCE = ['normal', 'high'] as const;
export type Importance = (typeof IMPORTANCE)[number];

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
  importance: Type.Optional(Type.Unsafe<Importance>(Type.Union(IMPORTANCE.map((s) => Type.Literal(s))))),
  ack_required: Type.Optional(Type.Boolean()),
});

/** POST /api/inbox/read: these items, or every item up to an id. */
export const ReadBody = Type.Object({
  ids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
  up_to: Type.Optional(Type.Integer({ minimum: 0 })),
});

/** A message as sent: the reply of POST /api/messages, each element of GET /api/threads/{id}. */
export const Message = Type.Object({
  id: Type.Integer(),
  /** The sender's instance id, or `human` (the operator). */
  from: Type.String(),
  from_name: Type.String(),
  to: Type.Array(Type.String()),
  /** The instance ids `to` resolved to when it was sent. */
  recipients: Type.Array(Type.String()),
  thread_id: Type.Integer(),
  /** The message this answers, or null. */
  reply_to: Type.Union([Type.Integer(), Type.Null()]),
  subject: Type.String(),
  body: Type.String(),
  importance: Type.Unsafe<Importance>(Type.Union(IMPORTANCE.map((s) => Type.Literal(s)))),
  ack_required: Type.Boolean(),
  created_at: Instant,
});
export type Message = Static<typeof Message>;

/** One of the caller's inbox items: the message and the caller's own read/ack times ("" until then). */
export const InboxItem = Type.Object({ ...Message.properties, read_at: Type.String(), acked_at: Type.String() });
export type InboxItem = Static<typeof InboxItem>;

/** GET /api/inbox, oldest first. */
export const InboxReply = Type.Array(InboxItem);

/** A recipient's read/ack state of a message. */
export const Receipt = Type.Object({ recipient: Type.String(), name: Type.String(), read_at: Type.String(), acked_at: Type.String() });
export type Receipt = Static<typeof Receipt>;

/** GET /api/messages/{id}: the message and every (still registered) recipient's state. */
export const MessageReceiptsReply = Type.Object({ ...Message.properties, receipts: Type.Array(Receipt) });

/** GET /api/threads/{id}: the thread's messages, oldest first. */
export const ThreadReply = Type.Array(Message);

/** POST /api/inbox/read: items newly marked, and what the caller has left unread. */
export const ReadReply = Type.Object({ marked: Type.Integer(), unread: Type.Integer() });
export type ReadReply = Static<typeof ReadReply>;

/** POST /api/inbox/{id}/ack. */
export const AckReply = Type.Object({ id: Type.Integer(), read_at: Type.String(), acked_at: Type.String() });
export type AckReply = Static<typeof AckReply>;
