import { Type } from '../typebox.js';
import type { MethodTable } from './envelope.js';
import { INSTANCE } from '../db/tables/instances.js';
import { Events, Instance } from './writer-rows.js';

/** The agent instances' writer methods, part of WriterMethods (schemas/rpc/writer.ts). */

export const InstanceMethods = {
  'instances.register': {
    /** Its input fields; `token_id`: the created token registering it (absent: the operator, an instance token, open mode). */
    req: Type.Object({ ...INSTANCE.Create.properties, name: Type.String({ minLength: 1 }), token_id: Type.Optional(Type.String()) }),
    /** The full row and its token (made here, returned only at registration; the row keeps its hash). */
    res: Type.Object({ ...Instance.properties, token: Type.String() }),
  },
  /** `op`: activate (→ active), heartbeat (stale → active), touch (last_seen only). */
  'instances.touch': {
    req: Type.Object({ id: Type.String(), op: Type.Union([Type.Literal('activate'), Type.Literal('heartbeat'), Type.Literal('touch')]) }),
    res: Instance,
  },
  /**
   * A new token for an instance: an idempotent retry of its registration gets a new
   * one, since the first one's plain text is never stored with the key (the old one stops working).
   */
  'instances.rekey': { req: Type.Object({ id: Type.String() }), res: Type.Object({ id: Type.String(), token: Type.String() }) },
  'instances.update': {
    req: Type.Object({ id: Type.String(), capabilities: Type.Optional(Type.Array(Type.String())), intent: Type.Optional(Type.String()) }),
    res: Instance,
  },
  /** Deletes the instance; its leases are released and its claimed tasks return to ready (`events`). */
  'instances.deregister': { req: Type.Object({ id: Type.String() }), res: Type.Object({ id: Type.String(), events: Events }) },
  /**
   * Active instances last seen before `cutoff` (storage text) become stale; returns them. In the
   * same transaction: one `agent.stale` event each, then their leases released and their claimed
   * tasks back to ready (`events`, in that order).
   */
  'instances.mark_stale': {
    req: Type.Object({ cutoff: Type.String() }),
    res: Type.Object({ stale: Type.Array(Instance), events: Events }),
  },
} satisfies MethodTable;
