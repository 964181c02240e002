import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow, type DB } from '../db.js';
import { Fault } from '../fault.js';

type M = WriterMethods;

export interface WebhookLimits {
  /** Consecutive failed attempts that disable a webhook. */
  disableAfter: number;
}

/**
 * Webhooks (SPEC §2.11, issue 10). A webhook reads the event log from a durable cursor (the id of
 * the last event it has had, delivered or passed over): publishing an event writes nothing for
 * webhooks, a crash loses nothing (the cursor moves only after a delivery succeeded, so an event
 * is delivered at least once), and the front's dispatcher settles each run of attempts here.
 * `attempts`/`next_at` belong to the event just after the cursor while it is being retried.
 */
export function webhookStore(db: DB, limits: WebhookLimits) {
  const q = {
    lastEvent: db.prepare<[], number | null>("SELECT seq FROM sqlite_sequence WHERE name = 'events'").pluck(),
    insert: db.prepare(
      `INSERT INTO webhooks (id, url, patterns, secret, active, created_at, fail_count, cursor)
       VALUES (@id, @url, @patterns, @secret, 1, @now, 0, @cursor) ON CONFLICT(id) DO NOTHING`,
    ),
    del: db.prepare<[string]>('DELETE FROM webhooks WHERE id = ?'),
    get: db.prepare<[string], { cursor: number; attempts: number; active: number }>('SELECT cursor, attempts, active FROM webhooks WHERE id = ?'),
    advance: db.prepare<[number, number, string]>('UPDATE webhooks SET cursor = max(cursor, ?), dropped = dropped + ? WHERE id = ?'),
    success: db.prepare<[string, number, string]>("UPDATE webhooks SET last_fired = ?, fail_count = 0, delivered = delivered + ?, last_error = '', attempts = 0, next_at = 0 WHERE id = ?"),
    failure: db.prepare<[string, string], { fail_count: number }>('UPDATE webhooks SET fail_count = fail_count + 1, failed = failed + 1, last_error = ? WHERE id = ? RETURNING fail_count'),
    retry: db.prepare<[number, string]>('UPDATE webhooks SET attempts = attempts + 1, next_at = ? WHERE id = ?'),
    giveUp: db.prepare<[number, string]>('UPDATE webhooks SET cursor = max(cursor, ?), attempts = 0, next_at = 0, dropped = dropped + 1 WHERE id = ?'),
    disable: db.prepare<[string]>('UPDATE webhooks SET active = 0 WHERE id = ?'),
  };

  return {
    create(req: ReqOf<M, 'webhooks.create'>): ResOf<M, 'webhooks.create'> {
      const now = storageNow();
      // A new webhook receives the events published from now on.
      const r = q.insert.run({ id: req.id, url: req.url, patterns: JSON.stringify(req.patterns), secret: req.secret, now, cursor: q.lastEvent.get() ?? 0 });
      if (r.changes === 0) throw new Fault('ALREADY_EXISTS', 'failed to create webhook');
      return { id: req.id, created_at: now };
    },

    delete(req: ReqOf<M, 'webhooks.delete'>): ResOf<M, 'webhooks.delete'> {
      if (q.del.run(req.id).changes === 0) throw new Fault('NOT_FOUND', `webhook not found: ${req.id}`);
      return { id: req.id };
    },

    settle(req: ReqOf<M, 'webhooks.settle'>): ResOf<M, 'webhooks.settle'> {
      const w = q.get.get(req.webhook_id);
      // Deleted or disabled meanwhile: nothing to record.
      if (!w || w.active !== 1) return { disabled: false, dropped: 0 };
      // The cursor only moves forward (a late settle never rewinds it).
      q.advance.run(req.cursor, req.dropped, req.webhook_id);
      if (req.delivered > 0) q.success.run(req.at, req.delivered, req.webhook_id);
      const f = req.failure;
      if (!f) return { disabled: false, dropped: req.dropped };
      const failed = q.failure.get(f.error, req.webhook_id);
      if (failed && failed.fail_count >= limits.disableAfter) {
        q.disable.run(req.webhook_id);
        return { disabled: true, dropped: req.dropped };
      }
      const attempts = req.delivered > 0 ? 0 : w.attempts;
      if (attempts + 1 >= req.max_attempts) {
        // Given up: the event is passed over and the next one is tried.
        q.giveUp.run(f.event_id, req.webhook_id);
        return { disabled: false, dropped: req.dropped + 1 };
      }
      q.retry.run(f.next_at, req.webhook_id);
      return { disabled: false, dropped: req.dropped };
    },
  };
}
