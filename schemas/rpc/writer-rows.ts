import { Type, type Static } from '../typebox.js';
import { EVENT } from '../db/tables/events.js';
import { MESSAGE, RECIPIENT } from '../db/tables/messages.js';
import { CHECKPOINT, TASK } from '../db/tables/tasks.js';

/** The rows writer methods return (decoded; times in storage text), as the front receives them. */

/** A stored event (schemas/db/tables/events.ts); `data` is raw JSON text, `created_at` storage text. */
export const Event = EVENT.Row;
export type Event = Static<typeof Event>;

/** Events a method stored in its own transaction, for the front to fan out (in id order). */
export const Events = Type.Array(Event);

/** An instance row; `capabilities` decoded, times in storage text. */
export const Instance = Type.Object({
  id: Type.String(),
  name: Type.String(),
  workspace: Type.String(),
  intent: Type.String(),
  stack: Type.String(),
  capabilities: Type.Array(Type.String()),
  status: Type.String(),
  /** SHA-256 of its token, hex: the token itself is only in the registration's reply. */
  token_hash: Type.String(),
  registered_at: Type.String(),
  last_seen: Type.String(),
  /** The created token that registered it, '' if none: that token may act as it. */
  token_id: Type.String(),
});
export type Instance = Static<typeof Instance>;

/** A validation rule as written (defaults applied by the front); `status` set by the method. */
export const RuleRow = Type.Object({
  project: Type.String({ minLength: 1 }),
  rule_id: Type.String(),
  severity: Type.String(),
  match_type: Type.String(),
  pattern: Type.String(),
  message: Type.String(),
  stack: Type.String(),
  applies_to: Type.Array(Type.String()),
  source: Type.String(),
  proposed_by: Type.String(),
  context: Type.String(),
});
export type RuleRow = Static<typeof RuleRow>;

/** A lease row: `acquired_at` storage text, `expires_ms` epoch ms (0 = no TTL). */
export const LeaseRow = Type.Object({
  id: Type.String(),
  holder: Type.String(),
  holder_name: Type.String(),
  resources: Type.Array(Type.String()),
  exclusive: Type.Boolean(),
  reason: Type.String(),
  ttl_ms: Type.Integer(),
  acquired_at: Type.String(),
  expires_ms: Type.Integer(),
  /** Its fencing token: only grows; a later holder of the resources has a larger one. */
  fence: Type.Integer(),
  /** The project its paths are in: leases of different projects never conflict. */
  project: Type.String(),
});
export type LeaseRow = Static<typeof LeaseRow>;

/** A task row (schemas/db/tables/tasks.ts): `data` raw JSON text, times storage text. */
export const TaskRow = TASK.Row;
export type TaskRow = Static<typeof TaskRow>;

/** A task's checkpoint: `data` raw JSON text, `at` storage text. */
export const CheckpointRow = CHECKPOINT.Row;
export type CheckpointRow = Static<typeof CheckpointRow>;

/** A message as sent (schemas/db/tables/messages.ts): lists decoded, `reply_to` 0 when it answers none, times storage text. */
export const MessageRow = MESSAGE.Row;
export type MessageRow = Static<typeof MessageRow>;

/** A recipient's state of a message: `read_at` and `acked_at` storage text, '' until then. */
export const RecipientRow = RECIPIENT.Row;
export type RecipientRow = Static<typeof RecipientRow>;
