import { Type, type Static } from '../typebox.js';

/*
 * Pieces of reply bodies that more than one domain uses. Reply schemas describe what the server
 * sends (SPEC §2, §8): every member it always sends is required, so a renamed or dropped member
 * fails test/http/replies.test.ts; members may be added (clients ignore what they do not know).
 */

/** An instant as replies spell it: RFC 3339 in UTC, seconds (SPEC §1.4). */
export const Instant = Type.String();

/** `{"deleted": "<what>"}`: DELETE of a key, a spec (`P/N`), an instance, a rule, a webhook, a template. */
export const DeletedReply = Type.Object({ deleted: Type.String() });
export type DeletedReply = Static<typeof DeletedReply>;

/** A violation of a contract or of a compliance check: where, and what. */
export const PathViolation = Type.Object({ path: Type.String(), message: Type.String() });
export type PathViolation = Static<typeof PathViolation>;
