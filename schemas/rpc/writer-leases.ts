import { Type } from '../typebox.js';
import type { MethodTable } from './envelope.js';
import { Events, LeaseRow } from './writer-rows.js';

/** The lease writer methods, part of WriterMethods (schemas/rpc/writer.ts). */

export const LeaseMethods = {
  /**
   * A lease for `holder` (an instance) on path globs, all or nothing: granted unless a
   * resource overlaps a live lease of another holder where either side is exclusive; then nothing
   * is taken and `conflict` names the first such resource and every lease in the way. Taking a
   * lease is a sign of life: the holder becomes active.
   */
  'leases.acquire': {
    req: Type.Object({
      holder: Type.String({ minLength: 1 }),
      /** The project its paths are in: only that project's leases are in the way ('' = none). */
      project: Type.String(),
      resources: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
      exclusive: Type.Boolean(),
      ttl_ms: Type.Integer({ minimum: 0 }),
      reason: Type.String(),
      /**
       * An edit hook's auto-lease: its TTL is an idle lifetime that heartbeats do not renew. It is
       * the hook's whole decision, in the writer's transaction: another holder's lease in the way
       * is a conflict; else a live lease of the holder's own on the path is `held` (nothing taken).
       */
      auto: Type.Optional(Type.Boolean()),
    }),
    res: Type.Union([
      Type.Object({ lease: LeaseRow, events: Events }),
      Type.Object({ conflict: Type.Object({ resource: Type.String(), leases: Type.Array(LeaseRow) }) }),
      Type.Object({ held: Type.Array(LeaseRow) }),
    ]),
  },
  /** Pushes a lease's expiry to now + TTL (`ttl_ms` replaces it when given; 0 = no TTL any more); holder only. */
  'leases.renew': {
    req: Type.Object({ id: Type.String(), holder: Type.String({ minLength: 1 }), ttl_ms: Type.Optional(Type.Integer({ minimum: 0 })), fence: Type.Optional(Type.Integer()) }),
    res: Type.Object({ lease: LeaseRow }),
  },
  /** Releases a lease (holder only); `lease.released` with reason `released`. */
  'leases.release': {
    req: Type.Object({ id: Type.String(), holder: Type.String({ minLength: 1 }), fence: Type.Optional(Type.Integer()) }),
    res: Type.Object({ lease: LeaseRow, events: Events }),
  },
  /** Releases up to `limit` leases whose TTL ran out (`lease.released`, reason `expired`); `more` when the limit was hit. */
  'leases.expire': {
    req: Type.Object({ limit: Type.Integer({ minimum: 1 }) }),
    res: Type.Object({ released: Type.Integer(), more: Type.Boolean(), events: Events }),
  },

  /**
   * Moves every TTL lease's expiry by `by_ms`: the wall-clock time the server missed
   * (held up, or its clock stepped) does not count against a TTL its holders could not renew.
   */
  'leases.shift': {
    req: Type.Object({ by_ms: Type.Integer() }),
    res: Type.Object({ shifted: Type.Integer() }),
  },
} satisfies MethodTable;
