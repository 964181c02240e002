import type { TransactionSql } from 'postgres';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow } from '../../writer/db.js';
import { Fault } from '../../writer/fault.js';

type M = WriterMethods;
type Tx = TransactionSql;

/**
 * Webhooks on PostgreSQL (workers/writer/stores/webhooks.ts): a durable cursor into the event
 * log per webhook; a new one starts at the `events` counter (the newest id handed out).
 */
export function pgWebhookStore(limits: { disableAfter: number }) {
  return {
    async create(tx: Tx, req: ReqOf<M, 'webhooks.create'>): Promise<ResOf<M, 'webhooks.create'>> {
      const now = storageNow();
      // A new webhook receives the events published from now on.
      const [c] = await tx<{ value: number }[]>`SELECT value FROM koor_counters WHERE name = 'events'`;
      const r = await tx`INSERT INTO webhooks (id, url, patterns, secret, active, created_at, fail_count, cursor)
                         VALUES (${req.id}, ${req.url}, ${JSON.stringify(req.patterns)}, ${req.secret}, 1, ${now}, 0, ${c?.value ?? 0})
                         ON CONFLICT (id) DO NOTHING`;
      if (r.count === 0) throw new Fault('ALREADY_EXISTS', 'failed to create webhook');
      return { id: req.id, created_at: now };
    },

    async delete(tx: Tx, req: ReqOf<M, 'webhooks.delete'>): Promise<ResOf<M, 'webhooks.delete'>> {
      if ((await tx`DELETE FROM webhooks WHERE id = ${req.id}`).count === 0) throw new Fault('NOT_FOUND', `webhook not found: ${req.id}`);
      return { id: req.id };
    },

    async settle(tx: Tx, req: ReqOf<M, 'webhooks.settle'>): Promise<ResOf<M, 'webhooks.settle'>> {
      const id = req.webhook_id;
      const [w] = await tx<{ attempts: number; active: number; restores: number }[]>`
        SELECT attempts, active, (SELECT value FROM koor_counters WHERE name = 'restores') AS restores FROM webhooks WHERE id = ${id}`;
      // Deleted or disabled meanwhile, or the run read a log a live restore has since replaced
      // (its cursor would skip the restored log's next events): nothing to record.
      if (!w || w.active !== 1 || (req.restores !== undefined && req.restores !== w.restores)) return { disabled: false, dropped: 0 };
      // The cursor only moves forward (a late settle never rewinds it).
      await tx`UPDATE webhooks SET cursor = greatest(cursor, ${req.cursor}), dropped = dropped + ${req.dropped} WHERE id = ${id}`;
      if (req.delivered > 0) {
        await tx`UPDATE webhooks SET last_fired = ${req.at}, fail_count = 0, delivered = delivered + ${req.delivered}, last_error = '', attempts = 0, next_at = 0 WHERE id = ${id}`;
      }
      const f = req.failure;
      if (!f) return { disabled: false, dropped: req.dropped };
      const [failed] = await tx<{ fail_count: number }[]>`UPDATE webhooks SET fail_count = fail_count + 1, failed = failed + 1, last_error = ${f.error} WHERE id = ${id} RETURNING fail_count`;
      if (failed && failed.fail_count >= limits.disableAfter) {
        await tx`UPDATE webhooks SET active = 0 WHERE id = ${id}`;
        return { disabled: true, dropped: req.dropped };
      }
      const attempts = req.delivered > 0 ? 0 : w.attempts;
      if (attempts + 1 >= req.max_attempts) {
        // Given up: the event is passed over and the next one is tried.
        await tx`UPDATE webhooks SET cursor = greatest(cursor, ${f.event_id}), attempts = 0, next_at = 0, dropped = dropped + 1 WHERE id = ${id}`;
        return { disabled: false, dropped: req.dropped + 1 };
      }
      await tx`UPDATE webhooks SET attempts = attempts + 1, next_at = ${f.next_at} WHERE id = ${id}`;
      return { disabled: false, dropped: req.dropped };
    },
  };
}
