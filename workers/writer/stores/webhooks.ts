import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { fault } from '../fault.js';
import { dialects, sql, type Tx } from '../sql.js';
import { storageNow } from '../../../schemas/db/time.js';
import { NEWEST_EVENT } from '../../../schemas/db/tables/events.js';

type M = WriterMethods;

export interface WebhookLimits {
  /** Consecutive failed attempts that disable a webhook. */
  disableAfter: number;
}

const INSERT = sql(
  `INSERT INTO webhooks (id, url, patterns, secret, active, created_at, fail_count, cursor)
   VALUES (?, ?, ?, ?, 1, ?, 0, ?) ON CONFLICT(id) DO NOTHING`,
);
const DELETE = sql('DELETE FROM webhooks WHERE id = ?');
const SEAL = sql('UPDATE webhooks SET secret = ? WHERE id = ? AND secret = ?');
/** With the count of live restores in cluster mode (PostgreSQL's `restores` counter; none on SQLite). */
const GET = dialects({
  sqlite: 'SELECT attempts, active, NULL AS restores FROM webhooks WHERE id = ?',
  pg: "SELECT attempts, active, (SELECT value FROM koor_counters WHERE name = 'restores') AS restores FROM webhooks WHERE id = ?",
});
// The cursor only moves forward (a late settle never rewinds it).
const ADVANCE = sql('UPDATE webhooks SET cursor = CASE WHEN cursor > ? THEN cursor ELSE ? END, dropped = dropped + ? WHERE id = ?');
const SUCCESS = sql("UPDATE webhooks SET last_fired = ?, fail_count = 0, delivered = delivered + ?, last_error = '', attempts = 0, next_at = 0 WHERE id = ?");
const FAILURE = sql('UPDATE webhooks SET fail_count = fail_count + 1, failed = failed + 1, last_error = ? WHERE id = ? RETURNING fail_count');
const RETRY = sql('UPDATE webhooks SET attempts = attempts + 1, next_at = ? WHERE id = ?');
const GIVE_UP = sql('UPDATE webhooks SET cursor = CASE WHEN cursor > ? THEN cursor ELSE ? END, attempts = 0, next_at = 0, dropped = dropped + 1 WHERE id = ?');
const DISABLE = sql('UPDATE webhooks SET active = 0 WHERE id = ?');

/**
 * Webhooks. A webhook reads the event log from a durable cursor (the id of
 * the last event it has had, delivered or passed over): publishing an event writes nothing for
 * webhooks, a crash loses nothing (the cursor moves only after a delivery succeeded, so an event
 * is delivered at least once), and the front's dispatcher settles each run of attempts here.
 * `attempts`/`next_at` belong to the event just after the cursor while it is being retried.
 */
export function webhookStore(limits: WebhookLimits) {
  return {
    async create(tx: Tx, req: ReqOf<M, 'webhooks.create'>): Promise<ResOf<M, 'webhooks.create'>> {
      const now = storageNow();
      // A new webhook receives the events published from now on.
      const cursor = (await tx.get<{ id: number | null }>(NEWEST_EVENT))?.id ?? 0;
      if ((await tx.run(INSERT, req.id, req.url, JSON.stringify(req.patterns), req.secret, now, cursor)) === 0) throw fault('WEBHOOK_EXISTS');
      return { id: req.id, created_at: now };
    },

    async delete(tx: Tx, req: ReqOf<M, 'webhooks.delete'>): Promise<ResOf<M, 'webhooks.delete'>> {
      if ((await tx.run(DELETE, req.id)) === 0) throw fault('WEBHOOK_NOT_FOUND', req.id);
      return { id: req.id };
    },

    async sealSecret(tx: Tx, req: ReqOf<M, 'webhooks.seal_secret'>): Promise<ResOf<M, 'webhooks.seal_secret'>> {
      return { sealed: (await tx.run(SEAL, req.secret, req.id, req.was)) === 1 };
    },

    async settle(tx: Tx, req: ReqOf<M, 'webhooks.settle'>): Promise<ResOf<M, 'webhooks.settle'>> {
      const id = req.webhook_id;
      const w = await tx.get<{ attempts: number; active: number; restores: number | null }>(GET, id);
      // Deleted or disabled meanwhile, or (cluster mode) the run read a log a live restore has
      // since replaced (its cursor would skip the restored log's next events): nothing to record.
      if (!w || w.active !== 1 || (req.restores !== undefined && req.restores !== w.restores)) return { disabled: false, dropped: 0 };
      await tx.run(ADVANCE, req.cursor, req.cursor, req.dropped, id);
      if (req.delivered > 0) await tx.run(SUCCESS, req.at, req.delivered, id);
      const f = req.failure;
      if (!f) return { disabled: false, dropped: req.dropped };
      const failed = await tx.get<{ fail_count: number }>(FAILURE, f.error, id);
      if (failed && failed.fail_count >= limits.disableAfter) {
        await tx.run(DISABLE, id);
        return { disabled: true, dropped: req.dropped };
      }
      const attempts = req.delivered > 0 ? 0 : w.attempts;
      if (attempts + 1 >= req.max_attempts) {
        // Given up: the event is passed over and the next one is tried.
        await tx.run(GIVE_UP, f.event_id, f.event_id, id);
        return { disabled: false, dropped: req.dropped + 1 };
      }
      await tx.run(RETRY, f.next_at, id);
      return { disabled: false, dropped: req.dropped };
    },
  };
}
