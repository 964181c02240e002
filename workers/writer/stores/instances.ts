import { randomUUID } from 'node:crypto';
import { tokenHash } from '../../../schemas/db/tables/tokens.js';
import { CHANGES_CHANNEL } from '../../../schemas/rpc/cluster.js';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { INSTANCE, type InstanceDbRow as Row } from '../../../schemas/db/tables/instances.js';
import { fault } from '../fault.js';
import { dialects, sql, type Tx } from '../sql.js';
import { toRfc3339, storageNow } from '../../../schemas/db/time.js';
import type { EventStore } from './events.js';
import { projectOf } from '../../../src/shared/workspace.js';

type M = WriterMethods;

const GET = sql(`SELECT ${INSTANCE.columns} FROM instances WHERE id = ?`);
/** The id, the instance's input fields (schemas/db/tables/instances.ts), then what registration sets. */
const INSERT_COLUMNS = ['id', ...INSTANCE.inputs, 'status', 'token_hash', 'registered_at', 'last_seen', 'token_id', 'project'];
const INSERT = sql(`INSERT INTO instances (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')})`);
const TOUCH = {
  activate: sql("UPDATE instances SET status = 'active', last_seen = ? WHERE id = ?"),
  heartbeat: sql("UPDATE instances SET status = CASE WHEN status = 'stale' THEN 'active' ELSE status END, last_seen = ? WHERE id = ?"),
  touch: sql('UPDATE instances SET last_seen = ? WHERE id = ?'),
};
const SET_CAPS = sql('UPDATE instances SET capabilities = ?, last_seen = ? WHERE id = ?');
const SET_INTENT = sql('UPDATE instances SET intent = ?, last_seen = ? WHERE id = ?');
const DELETE = sql('DELETE FROM instances WHERE id = ?');
const REKEY = sql('UPDATE instances SET token_hash = ? WHERE id = ?');
/** Unseen since the cutoff, unless a hook session of theirs runs a tool that may still be running then (a long shell command; a count not above zero holds nothing). */
const NOT_BUSY = "NOT EXISTS (SELECT 1 FROM hook_sessions h WHERE h.instance_id = instances.id AND h.busy_count > 0 AND h.busy_until >= ?)";
/** In the (status, last_seen) index's order, ties in insertion order (SQLite's rowid, PostgreSQL's seq). */
const STALE_CANDIDATES = dialects({
  sqlite: `SELECT ${INSTANCE.columns} FROM instances WHERE status = 'active' AND last_seen < ? AND ${NOT_BUSY} ORDER BY last_seen`,
  pg: `SELECT ${INSTANCE.columns} FROM instances WHERE status = 'active' AND last_seen < ? AND ${NOT_BUSY} ORDER BY last_seen, seq`,
});
const MARK_STALE = sql("UPDATE instances SET status = 'stale' WHERE id = ?");

/** Agent instances: lifecycle pending → active ⇄ stale; deregister deletes. */
export function instanceStore(events: EventStore) {
  const mustGet = async (tx: Tx, id: string): Promise<Row> => {
    const r = await tx.get<Row>(GET, id);
    if (!r) throw fault('INSTANCE_NOT_FOUND', id);
    return r;
  };

  return {
    async register(tx: Tx, req: ReqOf<M, 'instances.register'>): Promise<ResOf<M, 'instances.register'>> {
      const id = randomUUID();
      const token = randomUUID();
      const now = storageNow();
      // Only its hash is stored: a data file or a backup holds no usable token.
      await tx.run(INSERT, id, ...INSTANCE.values(req), 'pending', tokenHash(token), now, now, req.token_id ?? '', projectOf(req.workspace));
      return { ...INSTANCE.decode(await mustGet(tx, id)), token };
    },

    async rekey(tx: Tx, req: ReqOf<M, 'instances.rekey'>): Promise<ResOf<M, 'instances.rekey'>> {
      await mustGet(tx, req.id);
      const token = randomUUID();
      await tx.run(REKEY, tokenHash(token), req.id);
      // Every node drops what it remembers of the agent, its old token with it (src/cluster/node.ts).
      await tx.notify(CHANGES_CHANNEL, `instance:${req.id}`);
      return { id: req.id, token };
    },

    async touch(tx: Tx, req: ReqOf<M, 'instances.touch'>): Promise<ResOf<M, 'instances.touch'>> {
      await mustGet(tx, req.id);
      await tx.run(TOUCH[req.op], storageNow(), req.id);
      return INSTANCE.decode(await mustGet(tx, req.id));
    },

    async update(tx: Tx, req: ReqOf<M, 'instances.update'>): Promise<ResOf<M, 'instances.update'>> {
      await mustGet(tx, req.id);
      const now = storageNow();
      if (req.capabilities !== undefined) await tx.run(SET_CAPS, JSON.stringify(req.capabilities), now, req.id);
      if (req.intent !== undefined) await tx.run(SET_INTENT, req.intent, now, req.id);
      return INSTANCE.decode(await mustGet(tx, req.id));
    },

    async deregister(tx: Tx, req: ReqOf<M, 'instances.deregister'>): Promise<{ id: string }> {
      if ((await tx.run(DELETE, req.id)) === 0) throw fault('INSTANCE_NOT_FOUND', req.id);
      // Every node drops the agent from its identity index once this commits (src/cluster/node.ts).
      await tx.notify(CHANGES_CHANNEL, `instance:${req.id}`);
      return { id: req.id };
    },

    /** Marks them stale and stores one `agent.stale` event each, in this transaction. */
    async markStale(tx: Tx, req: ReqOf<M, 'instances.mark_stale'>): Promise<ResOf<M, 'instances.mark_stale'>> {
      const rows = await tx.all<Row>(STALE_CANDIDATES, req.cutoff, req.cutoff);
      const published = [];
      for (const r of rows) {
        await tx.run(MARK_STALE, r.id);
        const data = JSON.stringify({ instance_id: r.id, name: r.name, workspace: r.workspace, stack: r.stack, last_seen: toRfc3339(r.last_seen) });
        published.push(await events.publish(tx, { topic: 'agent.stale', data, source: 'liveness-monitor' }));
      }
      return { stale: rows.map((r) => INSTANCE.decode({ ...r, status: 'stale' })), events: published };
    },
  };
}
