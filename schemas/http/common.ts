import { Type, type Static, type TObject, type TSchema } from '../typebox.js';

/*
 * Pieces of reply bodies that more than one domain uses. Reply schemas describe what the server
 * sends: every member it always sends is required, so a renamed or dropped member
 * fails test/http/replies.test.ts; members may be added (clients ignore what they do not know).
 */

/** An instant as replies spell it: RFC 3339 in UTC, seconds. */
export const Instant = Type.String();

/** `{"deleted": "<what>"}`: DELETE of a key, a spec (`P/N`), an instance, a rule, a webhook, a template. */
export const DeletedReply = Type.Object({ deleted: Type.String() });
export type DeletedReply = Static<typeof DeletedReply>;

/** A violation of a contract or of a compliance check: where, and what. */
export const PathViolation = Type.Object({ path: Type.String(), message: Type.String() });
export type PathViolation = Static<typeof PathViolation>;

/*
 * Request headers routes read besides Authorization, X-Koor-Instance and the conditional ones; a
 * route names those it reads (src/http/route.ts) and the API description shows them.
 */

/** `X-Koor-Fence: <n>`: the write is refused (409) once the lease or claim that gave `n` was taken over; also `?fence=` or the body's `fence`. */
export const FenceHeader = Type.String({ description: "A fencing token: the write is refused (409) once the lease or claim that gave it was taken over (also ?fence= or the body's fence)" });

/**
 * A route's query parameters (src/http/route.ts `query`; the handler parses them strictly itself):
 * `optional` and `required` by name, each a description (a string parameter) or a schema.
 */
export function Query(optional: Readonly<Record<string, string | TSchema>>, required: Readonly<Record<string, string | TSchema>> = {}): TObject {
  const schema = (v: string | TSchema): TSchema => (typeof v === 'string' ? Type.String({ description: v }) : v);
  return Type.Object({
    ...Object.fromEntries(Object.entries(required).map(([k, v]) => [k, schema(v)])),
    ...Object.fromEntries(Object.entries(optional).map(([k, v]) => [k, Type.Optional(schema(v))])),
  });
}
/** A whole-number query parameter of at least 1. */
export const PositiveInt = (description: string): TSchema => Type.Integer({ minimum: 1, description });

/** `?fence=`, the query form of X-Koor-Fence. */
export const FENCE_PARAM = { fence: 'A fencing token (X-Koor-Fence wins)' } as const;
/** What a write under a fencing token reads (src/http/query.ts fenceParam): the header, and its query form. */
export const Fenced = { query: Query(FENCE_PARAM), headers: { 'x-koor-fence': FenceHeader } } as const;
