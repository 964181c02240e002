import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow, type DB } from '../db.js';

type M = WriterMethods;

export type EventStore = ReturnType<typeof eventStore>;

/** Event log writes (SPEC §2.4, §6, §8.3): append, and prune in bounded chunks. */
export function eventStore(db: DB, limits: { webhookBacklogMax: number }) {
  const insert = db.prepare<[string, string, string, string]>('INSERT INTO events (topic, data, source, created_at) VALUES (?, ?, ?, ?)');
  const cutoff = db.prepare<[number], number>('SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?').pluck();
  const prune = db.prepare<[number, number]>('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id <= ? ORDER BY id LIMIT ?)');
  /** The oldest cursor of an active webhook: the events after it are yet to be delivered. */
  const held = db.prepare<[], number | null>('SELECT min(cursor) FROM webhooks WHERE active = 1').pluck();
  const newest = db.prepare<[], number | null>("SELECT seq FROM sqlite_sequence WHERE name = 'events'").pluck();

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
      // Events a webhook has yet to receive stay, up to the webhook backlog bound behind the newest.
      const cursor = held.get();
      if (cursor !== null && cursor !== undefined && cursor < last) last = Math.min(last, Math.max(cursor, (newest.get() ?? 0) - limits.webhookBacklogMax));
      if (last < 1) return { deleted: 0, more: false };
      const deleted = prune.run(last, req.chunk).changes;
      return { deleted, more: deleted === req.chunk };
    },
  };
}
