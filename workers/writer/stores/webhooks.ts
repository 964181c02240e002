import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { matcherFor, type Matcher } from '../../../src/bus/glob.js';
import { storageNow, type DB } from '../db.js';
import { Fault } from '../fault.js';

type M = WriterMethods;

export interface WebhookLimits {
  /** Undelivered rows kept per webhook; past it the oldest is dropped. */
  outboxMax: number;
  /** Consecutive failed attempts that disable a webhook. */
  disableAfter: number;
}

/**
 * Webhooks and their delivery outbox (SPEC §2.11, issue 10). Every matching event gets one outbox
 * row per active webhook in the transaction that stores the event, so a delivery can be lost
 * neither by a crash nor by a slow endpoint; the front's dispatcher reads due rows and settles
 * each attempt here. The writer keeps the active webhooks' matchers and each webhook's outbox
 * depth in memory (it is the only writer of both tables); `reload()` re-reads them after a
 * failed commit so memory never disagrees with the file.
 */
export function webhookStore(db: DB, limits: WebhookLimits) {
  const q = {
    active: db.prepare<[], { id: string; patterns: string }>('SELECT id, patterns FROM webhooks WHERE active = 1'),
    depths: db.prepare<[], { webhook_id: string; n: number }>('SELECT webhook_id, count(*) AS n FROM webhook_outbox GROUP BY webhook_id'),
    insert: db.prepare(
      `INSERT INTO webhooks (id, url, patterns, secret, active, created_at, fail_count)
       VALUES (@id, @url, @patterns, @secret, 1, @now, 0) ON CONFLICT(id) DO NOTHING`,
    ),
    del: db.prepare<[string]>('DELETE FROM webhooks WHERE id = ?'),
    dropAll: db.prepare<[string]>('DELETE FROM webhook_outbox WHERE webhook_id = ?'),
    enqueue: db.prepare<[string, number]>('INSERT INTO webhook_outbox (webhook_id, event_id, attempts, next_at) VALUES (?, ?, 0, 0)'),
    dropOldest: db.prepare<[string]>('DELETE FROM webhook_outbox WHERE id = (SELECT min(id) FROM webhook_outbox WHERE webhook_id = ?)'),
    row: db.prepare<[number], { webhook_id: string; attempts: number }>('SELECT webhook_id, attempts FROM webhook_outbox WHERE id = ?'),
    delRow: db.prepare<[number]>('DELETE FROM webhook_outbox WHERE id = ?'),
    retry: db.prepare<[number, number]>('UPDATE webhook_outbox SET attempts = attempts + 1, next_at = ? WHERE id = ?'),
    success: db.prepare<[string, number, string]>("UPDATE webhooks SET last_fired = ?, fail_count = 0, delivered = delivered + ?, last_error = '' WHERE id = ?"),
    failure: db.prepare<[string, string], { fail_count: number }>('UPDATE webhooks SET fail_count = fail_count + 1, failed = failed + 1, last_error = ? WHERE id = ? RETURNING fail_count'),
    disable: db.prepare<[string]>('UPDATE webhooks SET active = 0 WHERE id = ?'),
  };

  const hooks = new Map<string, Matcher>();
  const depth = new Map<string, number>();

  function reload(): void {
    hooks.clear();
    depth.clear();
    for (const h of q.active.all()) hooks.set(h.id, matchAny(JSON.parse(h.patterns) as string[]));
    for (const d of q.depths.all()) depth.set(d.webhook_id, d.n);
  }
  reload();

  const removeRow = (outboxId: number, webhookId: string): void => {
    if (q.delRow.run(outboxId).changes > 0) depth.set(webhookId, Math.max(0, (depth.get(webhookId) ?? 1) - 1));
  };

  return {
    reload,

    /** Queues `eventId` for every active webhook whose patterns match `topic`. */
    onEvent(eventId: number, topic: string): { queued: number; dropped: number } {
      let queued = 0;
      let dropped = 0;
      for (const [id, matches] of hooks) {
        if (!matches(topic)) continue;
        const n = depth.get(id) ?? 0;
        if (n >= limits.outboxMax) {
          q.dropOldest.run(id);
          dropped++;
        } else depth.set(id, n + 1);
        q.enqueue.run(id, eventId);
        queued++;
      }
      return { queued, dropped };
    },

    create(req: ReqOf<M, 'webhooks.create'>): ResOf<M, 'webhooks.create'> {
      const now = storageNow();
      const r = q.insert.run({ id: req.id, url: req.url, patterns: JSON.stringify(req.patterns), secret: req.secret, now });
      if (r.changes === 0) throw new Fault('ALREADY_EXISTS', 'failed to create webhook');
      hooks.set(req.id, matchAny(req.patterns));
      return { id: req.id, created_at: now };
    },

    delete(req: ReqOf<M, 'webhooks.delete'>): ResOf<M, 'webhooks.delete'> {
      if (q.del.run(req.id).changes === 0) throw new Fault('NOT_FOUND', `webhook not found: ${req.id}`);
      const dropped = q.dropAll.run(req.id).changes;
      hooks.delete(req.id);
      depth.delete(req.id);
      return { id: req.id, dropped };
    },

    settle(req: ReqOf<M, 'webhooks.settle'>): ResOf<M, 'webhooks.settle'> {
      // Rows already gone (the webhook was deleted or disabled meanwhile) are simply not found.
      const mine = (id: number) => q.row.get(id)?.webhook_id === req.webhook_id;
      let delivered = 0;
      for (const id of req.delivered) {
        if (!mine(id)) continue;
        removeRow(id, req.webhook_id);
        delivered++;
      }
      if (delivered > 0) q.success.run(req.at, delivered, req.webhook_id);
      let dropped = 0;
      for (const id of req.skipped) {
        if (!mine(id)) continue;
        removeRow(id, req.webhook_id);
        dropped++;
      }
      const f = req.failure;
      if (!f) return { disabled: false, dropped };
      const row = q.row.get(f.outbox_id);
      if (!row || row.webhook_id !== req.webhook_id) return { disabled: false, dropped };
      const failed = q.failure.get(f.error, req.webhook_id);
      if (failed && failed.fail_count >= limits.disableAfter) {
        // Disabled for good (delete + re-create to revive): what it had queued goes with it.
        q.disable.run(req.webhook_id);
        dropped += q.dropAll.run(req.webhook_id).changes;
        hooks.delete(req.webhook_id);
        depth.delete(req.webhook_id);
        return { disabled: true, dropped };
      }
      if (row.attempts + 1 >= req.max_attempts) {
        removeRow(f.outbox_id, req.webhook_id);
        return { disabled: false, dropped: dropped + 1 };
      }
      q.retry.run(f.next_at, f.outbox_id);
      return { disabled: false, dropped };
    },
  };
}

function matchAny(patterns: readonly string[]): Matcher {
  const ms = patterns.map((p) => matcherFor(p));
  return ms.length === 1 ? ms[0]! : (topic) => ms.some((m) => m(topic));
}
