import type { Logger } from '../../log.js';
import { WEBHOOK_BACKLOG_MAX, WEBHOOK_BACKLOG_SKIP, WEBHOOK_IDLE_RECHECK_MS, WEBHOOK_MAX_CONCURRENT, WEBHOOK_RUN_MAX, WEBHOOK_SCAN_MAX } from '../../shared/limits-features.js';
import { Backlog, patternsMatcher } from './backlog.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toStorage } from '../../../schemas/db/time.js';
import type { DeliveryClient } from '../../rpc/delivery-client.js';
import { deliveryBody } from '../../shared/webhook-body.js';
import type { ActiveHook, WebhookReader } from './reader.js';
import { defined } from '../../shared/defined.js';

export interface DispatchOptions {
  /** First retry delay; each further one doubles, up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Attempts per event before it is dropped (the webhook stays active until its failures disable it). */
  maxAttempts: number;
  /**
   * The front reads the events' bodies and hands them to the delivery thread (cluster mode: the
   * log is in PostgreSQL); otherwise the thread reads them from the SQLite file itself.
   */
  handBodies?: boolean;
  log: Logger;
}

/** Settled delivery attempts since start (metrics). */
export interface DispatcherStats {
  delivered: number;
  failed: number;
  /** Events given up after the last attempt. */
  dropped: number;
  /** Webhooks disabled after consecutive failures. */
  disabled: number;
}

/**
 * Delivers webhooks. Each active webhook reads the event log from its durable cursor
 * (the last event it has had): this loop, on the front's event loop, reads the events after it,
 * has the delivery thread POST the matching ones in order (up to WEBHOOK_RUN_MAX, stopping at the
 * first failure; one run per webhook at a time, up to WEBHOOK_MAX_CONCURRENT webhooks at once, so
 * a slow one never holds up another) and settles the run through the writer: the cursor moves
 * past what got through; a failure is retried at an exponential backoff, passed over after
 * `maxAttempts`, and 10 in a row disable the webhook. Nothing is queued in memory or written at
 * publish: the log is the queue, so a restart resumes at the cursor (at least once).
 */
export class WebhookDispatcher {
  private readonly busy = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Per webhook: how far past its stored cursor the log was read without finding a match. */
  private readonly scanned = new Map<string, number>();
  /** Active webhooks at the last look (-1: unknown), and when it was (epoch ms). */
  private knownActive = -1;
  private lookedAt = 0;
  /** refresh() calls so far: a look that overlapped one does not count as recent. */
  private refreshes = 0;
  private scheduled = false;
  /** A look at the webhooks is under way (reads may be asynchronous); `kick` while it runs looks again after it. */
  private looking = false;
  private lookAgain = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private running = false;
  private readonly log: Backlog;
  readonly stats: DispatcherStats = { delivered: 0, failed: 0, dropped: 0, disabled: 0 };

  constructor(
    private readonly reader: WebhookReader,
    private readonly writer: WriterClient,
    private readonly delivery: DeliveryClient,
    private readonly opts: DispatchOptions,
  ) {
    this.log = new Backlog(reader);
  }

  start(): void {
    // What the last run read of the log may be stale (a live restore replaced it in cluster mode).
    this.scanned.clear();
    this.knownActive = -1;
    this.running = true;
    this.kick();
  }

  /** Stops sending; attempts under way are aborted, and what did not get through is sent after the next start. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.delivery.abortAll();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Events the active webhooks have yet to receive (matching their patterns), in total. */
  async depth(): Promise<number> {
    const newest = await this.log.newest();
    let n = 0;
    for (const h of await this.reader.active()) n += await this.log.pending(h.patterns, h.cursor, newest);
    return n;
  }

  /** Looks for due deliveries soon (coalesced: at most one look per event-loop turn). */
  kick(): void {
    if (this.looking) {
      this.lookAgain = true;
      return;
    }
    if (this.scheduled || !this.running) return;
    this.scheduled = true;
    setImmediate(this.pump);
  }

  /** The set of webhooks changed (created, deleted): look at them all again. */
  refresh(): void {
    this.knownActive = -1;
    this.refreshes++;
    this.kick();
  }

  private readonly pump = (): void => {
    this.scheduled = false;
    if (!this.running) return;
    // None at the last look, or every one already sending (the usual state under load: a kick
    // per publish): publishes do not read the registry again for a while. A finished run or
    // refresh() looks at once; the timer catches a webhook created through another cluster node.
    if (this.knownActive >= 0 && this.busy.size >= this.knownActive) {
      const at = this.lookedAt + WEBHOOK_IDLE_RECHECK_MS;
      if (Date.now() < at) return this.wakeAt(at);
    }
    this.looking = true;
    this.lookAgain = false;
    void this.look().finally(() => {
      this.looking = false;
      if (this.lookAgain) this.kick();
    });
  };

  private async look(): Promise<void> {
    let wake = Infinity;
    const refreshes = this.refreshes;
    try {
      const now = Date.now();
      const newest = await this.log.newest();
      const hooks = await this.reader.active();
      this.knownActive = hooks.length;
      this.lookedAt = refreshes === this.refreshes ? now : 0;
      for (const hook of hooks) {
        if (!this.running) return;
        if (this.busy.has(hook.id)) continue;
        if (this.busy.size >= WEBHOOK_MAX_CONCURRENT) break; // a settle kicks again
        if (Math.max(hook.cursor, this.scanned.get(hook.id) ?? 0) >= newest) continue; // nothing new
        if (hook.attempts > 0 && hook.next_at > now) {
          wake = Math.min(wake, hook.next_at);
          continue;
        }
        this.send(hook);
      }
    } catch (err) {
      this.opts.log.error({ err }, 'webhook dispatcher could not read the event log; retrying');
      wake = Date.now() + this.opts.retryBaseMs;
    }
    this.wakeAt(wake);
  }

  /** One timer for the earliest retry that is not due yet. */
  private wakeAt(at: number): void {
    if (at === Infinity || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.kick();
    }, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private send(hook: ActiveHook): void {
    this.busy.add(hook.id);
    const p = this.run(hook)
      .catch((err: unknown) => {
        // Not settled (writer restarting, delivery thread gone): the cursor did not move, so the
        // events are sent again.
        this.opts.log.warn({ err, webhook: hook.id }, 'webhook delivery not settled; retrying');
        this.wakeAt(Date.now() + this.opts.retryBaseMs);
      })
      .finally(() => {
        this.busy.delete(hook.id);
        this.inFlight.delete(p);
        this.kick();
      });
    this.inFlight.add(p);
  }

  /**
   * Delivers the next matching events after the webhook's cursor, in order, stopping at the
   * first failure, then settles the run in one writer call. If the server dies before that
   * commit, the cursor has not moved and the events are sent again (`event_id` de-duplicates).
   */
  private async run(hook: ActiveHook): Promise<void> {
    const matches = patternsMatcher(hook.patterns);
    const newest = await this.log.newest();
    let cursor = hook.cursor;
    let dropped = 0;
    // Fallen too far behind: skip to inside the backlog bound, counting the matching events
    // passed over.
    if (newest - cursor > WEBHOOK_BACKLOG_MAX) {
      const to = newest - WEBHOOK_BACKLOG_MAX + WEBHOOK_BACKLOG_SKIP;
      dropped = await this.log.countMatching(matches, cursor, to);
      cursor = to;
    }
    const from = Math.max(cursor, this.scanned.get(hook.id) ?? 0);
    const { ids, all, scannedTo } = await this.log.next(matches, from, WEBHOOK_RUN_MAX, WEBHOOK_SCAN_MAX);
    if (ids.length === 0) {
      // Nothing for this webhook so far: remember how far it was read; write the cursor down
      // now and then (it holds events from pruning).
      this.scanned.set(hook.id, scannedTo);
      if (scannedTo - hook.cursor < WEBHOOK_SCAN_MAX && dropped === 0) return;
      await this.settle(hook, { cursor: scannedTo, delivered: 0, dropped });
      this.scanned.delete(hook.id);
      return;
    }
    // Stopped while this run read the log: nothing sent, the next start sends it (stop() aborted
    // the attempts under way before this one would have begun: it would have held the stop up
    // for its whole timeout).
    if (!this.running) return;
    // The delivery thread POSTs the events in order, up to the first failure; it reads their
    // bodies itself from the SQLite file, or is handed them (cluster mode).
    const r = this.opts.handBodies ? await this.deliverBodies(hook, ids) : await this.delivery.run(hook.url, hook.secret, { events: all ? { after: from, upto: scannedTo } : { after: from, upto: scannedTo, ids } });
    let settle: { cursor: number; delivered: number; dropped: number; failure?: { event_id: number; error: string; next_at: number } };
    if (r.failed_event === undefined) settle = { cursor: scannedTo, delivered: r.delivered, dropped };
    else {
      // Up to just before the event that did not get through; shutting down aborts attempts,
      // which are not failures of the webhook.
      settle = { cursor: r.failed_event - 1, delivered: r.delivered, dropped };
      if (r.error !== undefined && this.running) {
        const attempts = r.delivered > 0 ? 0 : hook.attempts;
        settle.failure = { event_id: r.failed_event, error: r.error, next_at: Date.now() + Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** attempts) };
      }
    }
    this.scanned.delete(hook.id);
    await this.settle(hook, settle);
  }

  /** Cluster mode: the bodies read here, the outcome told as for logged events (the event that failed). */
  private async deliverBodies(hook: ActiveHook, ids: number[]): Promise<{ delivered: number; error?: string; failed_event?: number }> {
    // Pruned meanwhile: passed over as the thread passes them over when it reads the file.
    const events = await this.reader.events(ids);
    if (events.length === 0) return { delivered: 0 };
    // Stopped during the read: none sent (the cursor stops before the first; not a failure).
    if (!this.running) return { delivered: 0, error: 'stopped', failed_event: events[0]!.id };
    const r = await this.delivery.run(hook.url, hook.secret, { bodies: events.map(deliveryBody) });
    return r.error === undefined ? { delivered: r.delivered } : { delivered: r.delivered, error: r.error, failed_event: events[r.delivered]!.id };
  }

  private async settle(hook: ActiveHook, run: { cursor: number; delivered: number; dropped: number; failure?: { event_id: number; error: string; next_at: number } }): Promise<void> {
    const s = await this.writer.call('webhooks.settle', { webhook_id: hook.id, at: toStorage(Date.now()), ...run, max_attempts: this.opts.maxAttempts, ...defined({ restores: hook.restores }) });
    this.stats.delivered += run.delivered;
    this.stats.dropped += s.dropped;
    if (!run.failure) return;
    this.stats.failed++;
    if (s.disabled) {
      this.stats.disabled++;
      this.opts.log.warn({ webhook: hook.id, error: run.failure.error }, 'webhook disabled after consecutive failures');
    }
  }
}
