import { Type, type Static } from '../typebox.js';
import { Bytes, type MethodTable } from './envelope.js';
import { Events } from './writer-rows.js';

/** Multi-key transactions of the state store, part of WriterMethods (schemas/rpc/writer.ts). */

/** One compare: every field given must hold of the key's current row (absent = version 0, exists false). */
export const TxnCompare = Type.Object({
  key: Type.String({ minLength: 1 }),
  version: Type.Optional(Type.Integer({ minimum: 0 })),
  hash: Type.Optional(Type.String()),
  exists: Type.Optional(Type.Boolean()),
});
export type TxnCompare = Static<typeof TxnCompare>;

export const TxnOp = Type.Union([
  Type.Object({
    op: Type.Literal('put'),
    key: Type.String({ minLength: 1 }),
    value: Bytes,
    content_type: Type.String(),
    ttl_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Refused (and the whole transaction undone) when a live lease on the key, or an earlier fenced write of it, has a larger token. */
    fence: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
  Type.Object({ op: Type.Literal('delete'), key: Type.String({ minLength: 1 }), fence: Type.Optional(Type.Integer({ minimum: 0 })) }),
  Type.Object({ op: Type.Literal('get'), key: Type.String({ minLength: 1 }) }),
  /** `data`: raw JSON text, as events.publish stores it. */
  Type.Object({ op: Type.Literal('publish'), topic: Type.String({ minLength: 1 }), data: Type.String({ minLength: 1 }) }),
]);
export type TxnOp = Static<typeof TxnOp>;

/** What one op did, in the order of the branch that ran. */
export const TxnResult = Type.Object({
  op: Type.String(),
  key: Type.Optional(Type.String()),
  version: Type.Optional(Type.Integer()),
  hash: Type.Optional(Type.String()),
  revision: Type.Optional(Type.Integer()),
  /** get: the key had a current value; delete: there was one to delete. */
  found: Type.Optional(Type.Boolean()),
  value: Type.Optional(Bytes),
  content_type: Type.Optional(Type.String()),
  /** put with a TTL: when it expires, epoch ms. */
  expires_at: Type.Optional(Type.Integer()),
  id: Type.Optional(Type.Integer()),
  topic: Type.Optional(Type.String()),
});
export type TxnResult = Static<typeof TxnResult>;

/** A compared key as it was when a compare failed (version 0: absent). */
export const TxnCurrent = Type.Object({ key: Type.String(), version: Type.Integer(), hash: Type.Optional(Type.String()) });
export type TxnCurrent = Static<typeof TxnCurrent>;

/** A key's current row as a compare reads it (undefined: absent, or expired). */
type Compared = { version: number; hash: string } | undefined;

/** Whether compare `c` holds against its key's current row: the writer's decision, and the front's for a compare already lost. */
export function compareHolds(c: TxnCompare, cur: Compared): boolean {
  if (c.version !== undefined && (cur?.version ?? 0) !== c.version) return false;
  if (c.hash !== undefined && cur?.hash !== c.hash) return false;
  if (c.exists !== undefined && (cur !== undefined) !== c.exists) return false;
  return true;
}

/** Where a compared key is now, as a lost compare's `current` says it (version 0: absent). */
export const currentOf = (key: string, cur: Compared): TxnCurrent => (cur ? { key, version: cur.version, hash: cur.hash } : { key, version: 0 });

export const TxnMethods = {
  /**
   * The compares, then the success or the failure branch, in one transaction of the writer (a
   * failing op undoes it all). `revision`: of the last change it made, else the newest.
   */
  'state.txn': {
    req: Type.Object({
      compare: Type.Array(TxnCompare),
      success: Type.Array(TxnOp),
      failure: Type.Array(TxnOp),
      updated_by: Type.String(),
    }),
    res: Type.Object({
      succeeded: Type.Boolean(),
      revision: Type.Integer(),
      results: Type.Array(TxnResult),
      events: Events,
      /** When a compare failed: each compared key's current version (0: absent) and hash, so the client need not read it again. */
      current: Type.Optional(Type.Array(TxnCurrent)),
    }),
  },
} satisfies MethodTable;
