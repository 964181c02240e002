import type { Logger } from '../../log.js';
import { WEBHOOK_MAX_CONCURRENT, WEBHOOK_RUN_MAX } from '../../limits.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339, toStorage, type ReadDb } from '../../store.js';
import type { DeliveryClient } from '../../rpc/delivery-client.js';

export interface DispatchOptions {
  /** First retry delay; each further one doubles, up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Attempts per event before it is dropped (the webhook stays active until its failures disable it). */
  maxAttempts: number;
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

interface Hook {
  id: string;
  url: string;
  secret: string;
}
interface Head {
  id: number;
  event_id: number;
  attempts: number;
  next_at: number;
}
interface EventRow {
  id: number;
  topic: string;
  data: string;
  source: string;
  created_at: string;
}

/** The delivery body of SPEC §2.11 with `event_id` for de-duplication; `data` spliced in raw. */
export function deliveryBody(e: EventRow): string {
  return `{"topic":${JSON.stringify(e.topic)},"data":${e.data},"source":${JSON.stringify(e.source)},"event_id":${e.id},"created_at":"${toRfc3339(e.created_at)}"}`;
}

/**
 * Delivers the webhook outbox (issue 10). The writer queues one row per (webhook, event) in the
 * transaction that stores the event; this loop reads the outbox on the front's event loop and has
 * the delivery thread POST each webhook's oldest rows (in order, up to the first failure, one run
 * per webhook at a time; up to WEBHOOK_MAX_CONCURRENT webhooks at once, so a slow one never holds
 * up another), settles the run through the writer (success, or a retry at an exponential backoff, or a drop after
 * `maxAttempts`), and moves on. Nothing is queued in memory: the outbox is the queue, so a
 * restart resumes where it stopped and a delivery is at least once.
 */
export class WebhookDispatcher {
  private readonly busy = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private running = false;
  private readonly q;
  readonly stats: DispatcherStats = { delivered: 0, failed: 0, dropped: 0, disabled: 0 };

  constructor(
    db: ReadDb,
    private readonly writer: WriterClient,
    private readonly delivery: DeliveryClient,
    private readonly opts: DispatchOptions,
  ) {
    this.q = {
      hooks: db.prepare<[], Hook>('SELECT id, url, secret FROM webhooks WHERE active = 1'),
      head: db.prepare<[string], Head>('SELECT id, event_id, attempts, next_at FROM webhook_outbox WHERE webhook_id = ? ORDER BY id LIMIT 1'),
      run: db.prepare<[string, number], Head>('SELECT id, event_id, attempts, next_at FROM webhook_outbox WHERE webhook_id = ? ORDER BY id LIMIT ?'),
      event: db.prepare<[number], EventRow>('SELECT id, topic, data, source, created_at FROM events WHERE id = ?'),
      depth: db.prepare<[], number>('SELECT count(*) FROM webhook_outbox').pluck(),
    };
  }

  start(): void {
    this.running = true;
    this.kick();
  }

  /** Stops sending; attempts under way are aborted and stay in the outbox for the next start. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.delivery.abortAll();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Undelivered rows across all webhooks. */
  depth(): number {
    return this.q.depth.get() ?? 0;
  }

  /** Looks for due deliveries soon (coalesced: at most one look per event-loop turn). */
  kick(): void {
    if (this.scheduled || !this.running) return;
    this.scheduled = true;
    setImmediate(this.pump);
  }

  private readonly pump = (): void => {
    this.scheduled = false;
    if (!this.running) return;
    let wake = Infinity;
    try {
      const now = Date.now();
      for (const hook of this.q.hooks.all()) {
        if (this.busy.has(hook.id)) continue;
        if (this.busy.size >= WEBHOOK_MAX_CONCURRENT) break; // a settle kicks again
        const head = this.q.head.get(hook.id);
        if (!head) continue;
        if (head.next_at > now) {
          wake = Math.min(wake, head.next_at);
          continue;
        }
        this.send(hook);
      }
    } catch (err) {
      this.opts.log.error({ err }, 'webhook dispatcher could not read the outbox; retrying');
      wake = Date.now() + this.opts.retryBaseMs;
    }
    this.wakeAt(wake);
  };

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

  private send(hook: Hook): void {
    this.busy.add(hook.id);
    const p = this.run(hook)
      .catch((err: unknown) => {
        // The settle did not reach the file (writer restarting): the row stays and is sent again.
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
   * Delivers the webhook's oldest due rows one after another, in order, stopping at the first
   * failure, then settles them all in one writer call. If the server dies before that commit,
   * the delivered rows are sent again after the restart (at least once; `event_id` de-duplicates).
   */
  private async run(hook: Hook): Promise<void> {
    const delivered: number[] = [];
    const skipped: number[] = [];
    let failure: { outbox_id: number; error: string; next_at: number } | undefined;
    const now = Date.now();
    const due: Array<{ row: Head; body: string }> = [];
    for (const row of this.q.run.all(hook.id, WEBHOOK_RUN_MAX)) {
      if (row.next_at > now) break; // a retry not due yet (only ever the first row)
      const event = this.q.event.get(row.event_id);
      if (event) due.push({ row, body: deliveryBody(event) });
      else skipped.push(row.id);
    }
    if (due.length > 0) {
      // The POSTs run on the delivery thread, in order, up to the first failure.
      const r = await this.delivery.run(hook.url, hook.secret, due.map((d) => d.body));
      for (let i = 0; i < r.delivered; i++) delivered.push(due[i]!.row.id);
      const failed = due[r.delivered]?.row;
      // Shutting down aborts attempts: what got through is settled, the rest stays queued.
      if (r.error !== undefined && failed && this.running) {
        failure = { outbox_id: failed.id, error: r.error, next_at: Date.now() + Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** failed.attempts) };
      }
    }
    if (delivered.length === 0 && skipped.length === 0 && !failure) return;
    const s = await this.writer.call('webhooks.settle', { webhook_id: hook.id, at: toStorage(Date.now()), delivered, skipped, ...(failure ? { failure } : {}), max_attempts: this.opts.maxAttempts });
    this.stats.delivered += delivered.length;
    this.stats.dropped += s.dropped;
    if (!failure) return;
    this.stats.failed++;
    const r = failure;
    if (s.disabled) {
      this.stats.disabled++;
      this.opts.log.warn({ webhook: hook.id, error: r.error }, 'webhook disabled after consecutive failures');
    }
  }
}
