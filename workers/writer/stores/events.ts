import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow, type DB } from '../db.js';

type M = WriterMethods;

/** Event log writes (SPEC §2.4, §6, §8.3): append, and prune in bounded chunks. */
export function eventStore(db: DB) {
  const insert = db.prepare<[string, string, string, string]>('INSERT INTO events (topic, data, source, created_at) VALUES (?, ?, ?, ?)');
  const cutoff = db.prepare<[number], number>('SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?').pluck();
  const prune = db.prepare<[number, number]>('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id <= ? ORDER BY id LIMIT ?)');
  /** The oldest event a webhook has yet to receive: its body is read from here at delivery. */
  const held = db.prepare<[], number | null>('SELECT min(event_id) FROM webhook_outbox').pluck();

  return {
    publish(req: ReqOf<M, 'events.publish'>): Omit<ResOf<M, 'events.publish'>, 'queued' | 'dropped'> {
      const created_at = storageNow();
      const r = insert.run(req.topic, req.data, req.source, created_at);
      return { id: Number(r.lastInsertRowid), topic: req.topic, data: req.data, source: req.source, created_at };
    },

    prune(req: ReqOf<M, 'events.prune'>): ResOf<M, 'events.prune'> {
      // The newest `keep` survive: everything at or below the (keep+1)-th newest id goes.
      let last = cutoff.get(req.keep);
      if (last === undefined) return { deleted: 0, more: false };
      // Events still queued for a webhook stay until delivered (the outbox is bounded per webhook).
      const oldestQueued = held.get();
      if (oldestQueued !== null && oldestQueued !== undefined && oldestQueued <= last) last = oldestQueued - 1;
      if (last < 1) return { deleted: 0, more: false };
      const deleted = prune.run(last, req.chunk).changes;
      return { deleted, more: deleted === req.chunk };
    },
  };
}
