import { Type, type Static } from '../typebox.js';
import { EVENT } from '../db/tables/events.js';
import { INSTANCE } from '../db/tables/instances.js';
import { LEASE } from '../db/tables/leases.js';
import { MESSAGE, RECIPIENT } from '../db/tables/messages.js';
import { RULE } from '../db/tables/rules.js';
import { CHECKPOINT, TASK } from '../db/tables/tasks.js';

/** The rows writer methods return (decoded; times in storage text), as the front receives them. */

/** A stored event (schemas/db/tables/events.ts); `data` is raw JSON text, `created_at` storage text. */
export const Event = EVENT.Row;
export type Event = Static<typeof Event>;

/** Events a method stored in its own transaction, for the front to fan out (in id order). */
export const Events = Type.Array(Event);

/** An instance row (schemas/db/tables/instances.ts): `capabilities` decoded, times storage text. */
export const Instance = INSTANCE.Row;
export type Instance = Static<typeof Instance>;

/** A validation rule as written: its input fields (schemas/db/tables/rules.ts), defaults applied by the front; `status` set by the method. */
export const RuleRow = Type.Object({ ...RULE.Create.properties, project: Type.String({ minLength: 1 }) });
export type RuleRow = Static<typeof RuleRow>;

/** A lease row (schemas/db/tables/leases.ts): `acquired_at` storage text, `expires_ms` epoch ms (0 = no TTL). */
export const LeaseRow = LEASE.Row;
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
