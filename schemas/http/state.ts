import { Type, type Static } from '../typebox.js';
import { DiffEntry } from '../rpc/pool.js';
import { Instant } from './common.js';
import { TxnCompare, TxnCurrent, TxnResult } from '../rpc/writer-txn.js';

/*
 * Replies of the state store. The current value and `?version=N` are the stored bytes
 * themselves, not JSON of the server's: no schema.
 */

/** GET /api/state: one entry per key, by key. */
export const StateEntry = Type.Object({
  key: Type.String(),
  version: Type.Integer(),
  content_type: Type.String(),
  updated_at: Instant,
});
export type StateEntry = Static<typeof StateEntry>;
export const StateListReply = Type.Array(StateEntry);

/** One version in `?history=1`, current and archived. */
export const StateVersion = Type.Object({
  key: Type.String(),
  version: Type.Integer(),
  hash: Type.String(),
  content_type: Type.String(),
  updated_at: Instant,
  updated_by: Type.String(),
});
export type StateVersion = Static<typeof StateVersion>;

/** GET /api/state/{key}?history=1: version desc; an unknown key has none. */
export const StateHistoryReply = Type.Object({ key: Type.String(), versions: Type.Array(StateVersion) });
export type StateHistoryReply = Static<typeof StateHistoryReply>;

/** One difference between two JSON objects; `old`/`new` are absent when null. The pool computes it. */
export const StateDiff = DiffEntry;
export type StateDiff = Static<typeof StateDiff>;

/** GET /api/state/{key}?diff=A,B. */
export const StateDiffReply = Type.Object({ key: Type.String(), v1: Type.Integer(), v2: Type.Integer(), diffs: Type.Array(StateDiff) });
export type StateDiffReply = Static<typeof StateDiffReply>;

/** PUT /api/state/{key}. */
export const StatePutReply = Type.Object({
  key: Type.String(),
  version: Type.Integer(),
  hash: Type.String(),
  content_type: Type.String(),
  updated_at: Instant,
  /** The store-wide revision of this write: strictly increasing across every key and spec. */
  revision: Type.Integer(),
  /** With a TTL: when the key expires (RFC 3339, milliseconds). */
  expires_at: Type.Optional(Instant),
});
export type StatePutReply = Static<typeof StatePutReply>;

/** POST /api/state/{key}?rollback=N: the new version, a copy of N. */
export const StateRollbackReply = Type.Object({
  key: Type.String(),
  version: Type.Integer(),
  hash: Type.String(),
  rolled_back: Type.Integer(),
  updated_at: Instant,
  revision: Type.Integer(),
});

/** DELETE /api/state/{key}: the key, and the revision of the delete. */
export const StateDeletedReply = Type.Object({ deleted: Type.String(), revision: Type.Integer() });
export type StateDeletedReply = Static<typeof StateDeletedReply>;
export type StateRollbackReply = Static<typeof StateRollbackReply>;

/** One op of POST /api/txn. `value` of a put: any JSON (stored as its JSON text), or a string stored as is with a non-JSON content_type. */
export const TxnOpBody = Type.Object({
  /** put, delete, get or publish (an unknown one is refused naming it). */
  op: Type.String(),
  key: Type.Optional(Type.String()),
  value: Type.Optional(Type.Unknown()),
  content_type: Type.Optional(Type.String()),
  ttl: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  /** put, delete: this op's fencing token (else the request's X-Koor-Fence, if any). */
  fence: Type.Optional(Type.Integer({ minimum: 0 })),
  topic: Type.Optional(Type.String()),
  data: Type.Optional(Type.Unknown()),
});

/** POST /api/txn: compares, then `success` if all hold, else `failure`. A compare as the writer takes it, but an empty key is refused by the route, naming the compare. */
export const TxnBody = Type.Object({
  compare: Type.Optional(Type.Array(Type.Object({ ...TxnCompare.properties, key: Type.String() }))),
  success: Type.Optional(Type.Array(TxnOpBody)),
  failure: Type.Optional(Type.Array(TxnOpBody)),
});
export type TxnBody = Static<typeof TxnBody>;
export type TxnOpBody = Static<typeof TxnOpBody>;

/**
 * What one op of a transaction did, as the writer says it, but a get's value as JSON when it is
 * JSON (else its text), and a TTL's end RFC 3339 with milliseconds.
 */
export const TxnResultReply = Type.Object({
  ...TxnResult.properties,
  value: Type.Optional(Type.Unknown()),
  expires_at: Type.Optional(Instant),
});

/** POST /api/txn's reply. */
export const TxnReply = Type.Object({
  succeeded: Type.Boolean(),
  revision: Type.Integer(),
  results: Type.Array(TxnResultReply),
  /** When a compare failed: each compared key's current version (0: absent) and hash. */
  current: Type.Optional(Type.Array(TxnCurrent)),
});
export type TxnReply = Static<typeof TxnReply>;

/** `X-Koor-TTL: 30s` on PUT: the key expires that long after the write (also `?ttl=`). */
export const TtlHeader = Type.String({ description: 'The key expires this long after the write: 500ms, 30s, 10m, 2h (also ?ttl=)' });
/** `X-Koor-Ephemeral: true` on PUT: the key is bound to the calling agent and goes with it. */
export const EphemeralHeader = Type.String({ description: 'true: the key is bound to the calling agent (X-Koor-Instance) and deleted when it deregisters or goes stale' });
