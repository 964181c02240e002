import { EVENTS_CHANNEL } from '../../../schemas/rpc/cluster.js';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { NEWEST_EVENT } from '../../../schemas/db/tables/events.js';
import { dialects, sql, type Tx } from '../sql.js';
import { storageNow } from '../../../schemas/db/time.js';

type M = WriterMethods;

export type EventStore = ReturnType<typeof eventStore>;

/**
 * Ids: SQLite's AUTOINCREMENT; on PostgreSQL the `events` counter row, taken under the write lock,
 * so ids are gapless and commit in id order. PostgreSQL also notifies `koor_events` with the id:
 * it delivers at COMMIT, in commit order, to every node listening (their subscribers' wake-up).
 * The id taken, the event stored and every node woken in one statement (one round trip).
 */
const PUBLISH = dialects({
  sqlite: 'INSERT INTO events (topic, data, source, created_at) VALUES (?, ?, ?, ?)',
  pg: `WITH counter AS (UPDATE koor_counters SET value = value + 1 WHERE name = 'events' RETURNING value AS id),
       stored AS (INSERT INTO events (id, topic, data, source, created_at) SELECT id, ?, ?, ?, ? FROM counter RETURNING id)
       SELECT id, pg_notify('${EVENTS_CHANNEL}', id::text)::text AS woken FROM stored`,
});
const CUTOFF = sql('SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET CAST(? AS bigint)');
/** The oldest cursor of an active webhook: the events after it are yet to be delivered. */
const HELD = sql('SELECT min(cursor) AS cursor FROM webhooks WHERE active = 1');
const PRUNE = sql('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id <= ? ORDER BY id LIMIT CAST(? AS bigint))');

/** Event log writes: append, and prune in bounded chunks. */
export function eventStore(limits: { webhookBacklogMax: number }) {
  return {
    async publish(tx: Tx, req: ReqOf<M, 'events.publish'>): Promise<Omit<ResOf<M, 'events.publish'>, 'queued' | 'dropped'>> {
      const created_at = storageNow();
      const id = await tx.insert(PUBLISH, req.topic, req.data, req.source, created_at);
      return { id, topic: req.topic, data: req.data, source: req.source, created_at };
    },

    async prune(tx: Tx, req: ReqOf<M, 'events.prune'>): Promise<ResOf<M, 'events.prune'>> {
      // The newest `keep` survive: everything at or below the (keep+1)-th newest id goes.
      let last = (await tx.get<{ id: number }>(CUTOFF, req.keep))?.id;
      if (last === undefined) return { deleted: 0, more: false };
      // Events a webhook has yet to receive stay, up to the webhook backlog bound behind the newest.
      const cursor = (await tx.get<{ cursor: number | null }>(HELD))?.cursor ?? null;
      if (cursor !== null && cursor < last) last = Math.min(last, Math.max(cursor, ((await tx.get<{ id: number }>(NEWEST_EVENT))?.id ?? 0) - limits.webhookBacklogMax));
      if (last < 1) return { deleted: 0, more: false };
      const deleted = await tx.run(PRUNE, last, req.chunk);
      return { deleted, more: deleted === req.chunk };
    },
  };
}
