import { randomUUID } from 'node:crypto';
import type { TransactionSql } from 'postgres';
import { CHANGES_CHANNEL } from '../../../schemas/rpc/cluster.js';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { Instance, WriterMethods } from '../../../schemas/rpc/writer.js';
import { rfc3339, storageNow } from '../../writer/db.js';
import { Fault } from '../../writer/fault.js';
import type { pgEventStore } from './events.js';

type M = WriterMethods;
type Tx = TransactionSql;
type Row = Omit<Instance, 'capabilities'> & { capabilities: string };

const COLS = 'id, name, workspace, intent, stack, capabilities, status, token, registered_at, last_seen';
const decode = (r: Row): Instance => ({ ...r, capabilities: JSON.parse(r.capabilities) as string[] });

/** Agent instances on PostgreSQL (workers/writer/stores/instances.ts). */
export function pgInstanceStore(events: ReturnType<typeof pgEventStore>) {
  const get = async (tx: Tx, id: string): Promise<Row | undefined> => (await tx<Row[]>`SELECT ${tx.unsafe(COLS)} FROM instances WHERE id = ${id}`)[0];
  const mustGet = async (tx: Tx, id: string): Promise<Row> => {
    const r = await get(tx, id);
    if (!r) throw new Fault('NOT_FOUND', `instance not found: ${id}`);
    return r;
  };

  return {
    async register(tx: Tx, req: ReqOf<M, 'instances.register'>): Promise<ResOf<M, 'instances.register'>> {
      const id = randomUUID();
      const token = randomUUID();
      const now = storageNow();
      await tx`INSERT INTO instances (${tx.unsafe(COLS)})
               VALUES (${id}, ${req.name}, ${req.workspace}, ${req.intent}, ${req.stack}, ${JSON.stringify(req.capabilities)}, 'pending', ${token}, ${now}, ${now})`;
      return decode(await mustGet(tx, id));
    },

    async touch(tx: Tx, req: ReqOf<M, 'instances.touch'>): Promise<ResOf<M, 'instances.touch'>> {
      await mustGet(tx, req.id);
      const now = storageNow();
      if (req.op === 'activate') await tx`UPDATE instances SET status = 'active', last_seen = ${now} WHERE id = ${req.id}`;
      else if (req.op === 'heartbeat') await tx`UPDATE instances SET status = CASE WHEN status = 'stale' THEN 'active' ELSE status END, last_seen = ${now} WHERE id = ${req.id}`;
      else await tx`UPDATE instances SET last_seen = ${now} WHERE id = ${req.id}`;
      return decode(await mustGet(tx, req.id));
    },

    async update(tx: Tx, req: ReqOf<M, 'instances.update'>): Promise<ResOf<M, 'instances.update'>> {
      await mustGet(tx, req.id);
      const now = storageNow();
      if (req.capabilities !== undefined) await tx`UPDATE instances SET capabilities = ${JSON.stringify(req.capabilities)}, last_seen = ${now} WHERE id = ${req.id}`;
      if (req.intent !== undefined) await tx`UPDATE instances SET intent = ${req.intent}, last_seen = ${now} WHERE id = ${req.id}`;
      return decode(await mustGet(tx, req.id));
    },

    async deregister(tx: Tx, req: ReqOf<M, 'instances.deregister'>): Promise<{ id: string }> {
      if ((await tx`DELETE FROM instances WHERE id = ${req.id}`).count === 0) throw new Fault('NOT_FOUND', `instance not found: ${req.id}`);
      // Every node drops the agent from its identity index once this commits (src/cluster/node.ts).
      await tx`SELECT pg_notify(${CHANGES_CHANNEL}, ${`instance:${req.id}`})`;
      return { id: req.id };
    },

    /** Marks them stale and stores one `agent.stale` event each, in this transaction. */
    async markStale(tx: Tx, req: ReqOf<M, 'instances.mark_stale'>): Promise<ResOf<M, 'instances.mark_stale'>> {
      // seq: SQLite reads them through its (status, last_seen) index, ties in rowid order.
      const rows = await tx<Row[]>`SELECT ${tx.unsafe(COLS)} FROM instances WHERE status = 'active' AND last_seen < ${req.cutoff} ORDER BY last_seen, seq`;
      const published = [];
      for (const r of rows) {
        await tx`UPDATE instances SET status = 'stale' WHERE id = ${r.id}`;
        const data = JSON.stringify({ instance_id: r.id, name: r.name, workspace: r.workspace, stack: r.stack, last_seen: rfc3339(r.last_seen) });
        published.push(await events.publish(tx, { topic: 'agent.stale', data, source: 'liveness-monitor' }));
      }
      return { stale: rows.map((r) => decode({ ...r, status: 'stale' })), events: published };
    },
  };
}
