import type { TransactionSql } from 'postgres';
import { EVENTS_CHANNEL } from '../../../schemas/rpc/cluster.js';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow } from '../../writer/db.js';

type M = WriterMethods;
type Tx = TransactionSql;

/**
 * The event log on PostgreSQL (workers/writer/stores/events.ts). Ids come from the `events`
 * counter row (schemas/db/pg-migrations.ts): taken under the write lock, they are gapless and commit in
 * id order. Each publish notifies `koor_events` with its id: PostgreSQL delivers notifications
 * at COMMIT, in commit order, to every node listening (their subscribers' wake-up).
 */
export function pgEventStore(limits: { webhookBacklogMax: number }) {
  return {
    async publish(tx: Tx, req: ReqOf<M, 'events.publish'>): Promise<ResOf<M, 'events.publish'>> {
      const created_at = storageNow();
      // The id taken, the event stored and every node woken in one statement (one round trip).
      const [c] = await tx<{ id: number }[]>`
        WITH counter AS (UPDATE koor_counters SET value = value + 1 WHERE name = 'events' RETURNING value AS id),
        stored AS (INSERT INTO events (id, topic, data, source, created_at) SELECT id, ${req.topic}, ${req.data}, ${req.source}, ${created_at} FROM counter RETURNING id)
        SELECT id, pg_notify(${EVENTS_CHANNEL}, id::text)::text AS woken FROM stored`;
      const id = c!.id;
      return { id, topic: req.topic, data: req.data, source: req.source, created_at };
    },

    async prune(tx: Tx, req: ReqOf<M, 'events.prune'>): Promise<ResOf<M, 'events.prune'>> {
      const [cut] = await tx<{ id: number }[]>`SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ${req.keep}`;
      if (!cut) return { deleted: 0, more: false };
      let last = cut.id;
      const [h] = await tx<{ cursor: number | null; newest: number }[]>`
        SELECT (SELECT min(cursor) FROM webhooks WHERE active = 1) AS cursor, (SELECT value FROM koor_counters WHERE name = 'events') AS newest`;
      const cursor = h?.cursor ?? null;
      if (cursor !== null && cursor < last) last = Math.min(last, Math.max(cursor, (h?.newest ?? 0) - limits.webhookBacklogMax));
      if (last < 1) return { deleted: 0, more: false };
      const r = await tx`DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id <= ${last} ORDER BY id LIMIT ${req.chunk})`;
      return { deleted: r.count, more: r.count === req.chunk };
    },
  };
}
