import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { compareHolds, currentOf, type TxnCompare, type TxnCurrent, type TxnOp, type TxnResult } from '../../../schemas/rpc/writer-txn.js';
import type { Event } from '../../../schemas/rpc/writer-rows.js';
import { NEWEST_REVISION, withCurrentValue } from '../../../schemas/db/tables/state.js';
import type { Tx } from '../sql.js';
import type { EventStore } from './events.js';
import type { stateStore } from './state.js';
import { defined } from '../../../src/shared/defined.js';

type M = WriterMethods;
type StateStore = ReturnType<typeof stateStore>;

/** The current value: the version log's row of the key's current version. */
const VALUE = withCurrentValue('SELECT h.value, h.content_type', 'WHERE s.key = ?');

/**
 * POST /api/txn: compares, then one branch of puts, deletes, gets and publishes, all
 * in the batch's transaction — on both backends the writer's one transaction (under the cluster
 * write lock on PostgreSQL), so no other write lands between a compare and the ops it guards. A
 * failing op (an outdated fence) throws and the dispatcher undoes the whole envelope.
 */
export function txnStore(state: StateStore, events: EventStore, checkFence: (tx: Tx, key: string, fence: number) => Promise<void>) {
  const holds = async (tx: Tx, c: TxnCompare): Promise<boolean> => compareHolds(c, await state.current(tx, c.key));

  const run = async (tx: Tx, op: TxnOp, by: string, out: { revision: number; events: Event[] }): Promise<TxnResult> => {
    switch (op.op) {
      case 'put': {
        if (op.fence !== undefined) await checkFence(tx, op.key, op.fence);
        const w = await state.writeIn(tx, op.key, op.value, op.content_type, by, op);
        out.revision = w.revision;
        return { op: 'put', key: op.key, version: w.version, hash: w.hash, revision: w.revision, ...defined({ expires_at: w.expires_at }) };
      }
      case 'delete': {
        if (op.fence !== undefined) await checkFence(tx, op.key, op.fence);
        const cur = await state.current(tx, op.key);
        if (!cur) return { op: 'delete', key: op.key, found: false };
        out.revision = await state.drop(tx, op.key, cur.version, 'delete', by);
        return { op: 'delete', key: op.key, found: true, version: cur.version, revision: out.revision };
      }
      case 'get': {
        const cur = await state.current(tx, op.key);
        if (!cur) return { op: 'get', key: op.key, found: false };
        const row = (await tx.get<{ value: Uint8Array; content_type: string }>(VALUE, op.key))!;
        return { op: 'get', key: op.key, found: true, version: cur.version, hash: cur.hash, value: row.value, content_type: row.content_type };
      }
      case 'publish': {
        const e = await events.publish(tx, { topic: op.topic, data: op.data, source: by });
        out.events.push(e);
        return { op: 'publish', id: e.id, topic: e.topic };
      }
    }
  };

  return {
    async txn(tx: Tx, req: ReqOf<M, 'state.txn'>): Promise<ResOf<M, 'state.txn'>> {
      let succeeded = true;
      for (const c of req.compare) {
        if (!(await holds(tx, c))) {
          succeeded = false;
          break;
        }
      }
      // A lost compare says where each compared key is now: the client need not read it again.
      const current: TxnCurrent[] = [];
      if (!succeeded) {
        for (const c of req.compare) {
          if (current.some((x) => x.key === c.key)) continue;
          current.push(currentOf(c.key, await state.current(tx, c.key)));
        }
      }
      const out = { revision: 0, events: [] as Event[] };
      const results: TxnResult[] = [];
      for (const op of succeeded ? req.success : req.failure) results.push(await run(tx, op, req.updated_by, out));
      if (out.revision === 0) out.revision = (await tx.get<{ id: number }>(NEWEST_REVISION))?.id ?? 0;
      return succeeded ? { succeeded, revision: out.revision, results, events: out.events } : { succeeded, revision: out.revision, results, events: out.events, current };
    },
  };
}
