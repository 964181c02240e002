import { randomUUID } from 'node:crypto';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { Instance, WriterMethods } from '../../../schemas/rpc/writer.js';
import { rfc3339, storageNow, type DB } from '../db.js';
import { Fault } from '../fault.js';
import type { EventStore } from './events.js';

type M = WriterMethods;
type Row = Omit<Instance, 'capabilities'> & { capabilities: string };

const decode = (r: Row): Instance => ({ ...r, capabilities: JSON.parse(r.capabilities) as string[] });

/** Agent instances (SPEC §2.5, §6): lifecycle pending → active ⇄ stale; deregister deletes. */
export function instanceStore(db: DB, events: EventStore) {
  const COLS = 'id, name, workspace, intent, stack, capabilities, status, token, registered_at, last_seen';
  const get = db.prepare<[string], Row>(`SELECT ${COLS} FROM instances WHERE id = ?`);
  const insert = db.prepare(
    `INSERT INTO instances (${COLS}) VALUES (@id, @name, @workspace, @intent, @stack, @capabilities, 'pending', @token, @now, @now)`,
  );
  const activate = db.prepare<[string, string]>("UPDATE instances SET status = 'active', last_seen = ? WHERE id = ?");
  const heartbeat = db.prepare<[string, string]>("UPDATE instances SET status = CASE WHEN status = 'stale' THEN 'active' ELSE status END, last_seen = ? WHERE id = ?");
  const touch = db.prepare<[string, string]>('UPDATE instances SET last_seen = ? WHERE id = ?');
  const setCaps = db.prepare<[string, string, string]>('UPDATE instances SET capabilities = ?, last_seen = ? WHERE id = ?');
  const setIntent = db.prepare<[string, string, string]>('UPDATE instances SET intent = ?, last_seen = ? WHERE id = ?');
  const del = db.prepare<[string]>('DELETE FROM instances WHERE id = ?');
  const staleCandidates = db.prepare<[string], Row>(`SELECT ${COLS} FROM instances WHERE status = 'active' AND last_seen < ? ORDER BY last_seen`);
  const markStale = db.prepare<[string]>("UPDATE instances SET status = 'stale' WHERE id = ?");

  const mustGet = (id: string): Row => {
    const r = get.get(id);
    if (!r) throw new Fault('NOT_FOUND', `instance not found: ${id}`);
    return r;
  };

  return {
    register(req: ReqOf<M, 'instances.register'>): ResOf<M, 'instances.register'> {
      const id = randomUUID();
      insert.run({ ...req, id, token: randomUUID(), capabilities: JSON.stringify(req.capabilities), now: storageNow() });
      return decode(mustGet(id));
    },

    touch(req: ReqOf<M, 'instances.touch'>): ResOf<M, 'instances.touch'> {
      mustGet(req.id);
      const stmt = req.op === 'activate' ? activate : req.op === 'heartbeat' ? heartbeat : touch;
      stmt.run(storageNow(), req.id);
      return decode(mustGet(req.id));
    },

    update(req: ReqOf<M, 'instances.update'>): ResOf<M, 'instances.update'> {
      mustGet(req.id);
      const now = storageNow();
      if (req.capabilities !== undefined) setCaps.run(JSON.stringify(req.capabilities), now, req.id);
      if (req.intent !== undefined) setIntent.run(req.intent, now, req.id);
      return decode(mustGet(req.id));
    },

    deregister(req: ReqOf<M, 'instances.deregister'>): { id: string } {
      if (del.run(req.id).changes === 0) throw new Fault('NOT_FOUND', `instance not found: ${req.id}`);
      return { id: req.id };
    },

    /** Marks them stale and stores one `agent.stale` event each (SPEC §2.4), in this transaction. */
    markStale(req: ReqOf<M, 'instances.mark_stale'>): ResOf<M, 'instances.mark_stale'> {
      const rows = staleCandidates.all(req.cutoff);
      const published = rows.map((r) => {
        markStale.run(r.id);
        const data = JSON.stringify({ instance_id: r.id, name: r.name, workspace: r.workspace, stack: r.stack, last_seen: rfc3339(r.last_seen) });
        return events.publish({ topic: 'agent.stale', data, source: 'liveness-monitor' });
      });
      return { stale: rows.map((r) => decode({ ...r, status: 'stale' })), events: published };
    },
  };
}
