import { randomUUID } from 'node:crypto';
import type { IdemTag } from '../../../schemas/rpc/envelope.js';
import { AGENT_METRICS_FLUSH_MS } from '../../shared/limits-features.js';
import { Periodic } from '../../shared/periodic.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import type { AgentMetricName } from '../../identity.js';
import type { AgentMetricsReader, MetricRow } from './reader.js';

/** The idempotency keys of the flushes (the writer keeps them 24 h, as a client's). */
const IDEM_CALLER = 'koor:agent-metrics';

interface Bucket {
  instance_id: string;
  metric_name: string;
  period: string;
  value: number;
}

/**
 * Per-agent metrics: counters per (instance, metric, UTC hour). A request
 * only adds to an in-memory bucket; every AGENT_METRICS_FLUSH_MS the buckets go to the writer as
 * one batch of upserts (never one extra write per request). Reads flush first, so they see every
 * count made before them. A crash loses at most one interval of counts.
 */
export class AgentMetrics {
  private pending = new Map<string, Bucket>();
  private hourEndsAt = 0;
  private period = '';
  private readonly timer: Periodic;
  private flushing: Promise<void> | null = null;
  /**
   * A flush answered "outcome unknown" (it may have committed): sent again as it was, under its
   * idempotency key, before anything else — a replay if it committed, else its first write.
   * Merging its counts back, as a certain failure's are, counted them twice when it had committed.
   */
  private inDoubt: { rows: Bucket[]; idem: IdemTag } | null = null;

  constructor(
    private readonly reader: AgentMetricsReader,
    private readonly writer: WriterClient,
    private readonly log: Logger,
  ) {
    this.timer = new Periodic(() => this.flush(), { everyMs: AGENT_METRICS_FLUSH_MS, name: 'agent metrics flush', log });
  }

  /** The UTC hour bucket `YYYY-MM-DDTHH` of now (recomputed once an hour). */
  private currentPeriod(now: number): string {
    if (now >= this.hourEndsAt) {
      this.period = new Date(now).toISOString().slice(0, 13);
      this.hourEndsAt = (Math.floor(now / 3_600_000) + 1) * 3_600_000;
    }
    return this.period;
  }

  add(instanceId: string, name: AgentMetricName, n = 1): void {
    if (n <= 0) return;
    const period = this.currentPeriod(Date.now());
    const key = `${instanceId}\u0000${name}\u0000${period}`;
    const b = this.pending.get(key);
    if (b) b.value += n;
    else this.pending.set(key, { instance_id: instanceId, metric_name: name, period, value: n });
  }

  start(): void {
    this.timer.start();
  }

  /** Resolves once the flush the timer started (if any) is over. */
  stop(): Promise<void> {
    return this.timer.stop();
  }

  /**
   * Writes what is pending (one writer call, under an idempotency key of its own). Counts of a
   * call that certainly failed are kept for the next; a call whose outcome is unknown is retried
   * as it was (inDoubt) before the counts that came since.
   */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    const retry = this.inDoubt;
    if (retry === null && this.pending.size === 0) return Promise.resolve();
    const batch = this.pending;
    if (retry === null) this.pending = new Map();
    const send = retry ?? { rows: [...batch.values()], idem: { caller: IDEM_CALLER, key: randomUUID(), hash: '' } };
    this.flushing = this.writer
      .callIdempotent('agent_metrics.add', { rows: send.rows }, send.idem)
      .then(
        () => {
          this.inDoubt = null;
        },
        (err: unknown) => {
          if (err instanceof AppError && err.status === 'OUTCOME_UNKNOWN') this.inDoubt = send;
          else if (retry === null) {
            // Certainly not written: put them back (merged with what arrived meanwhile).
            for (const [k, b] of batch) {
              const cur = this.pending.get(k);
              if (cur) cur.value += b.value;
              else this.pending.set(k, b);
            }
          }
          this.log.warn({ err, buckets: send.rows.length }, 'agent metrics not written; retrying');
        },
      )
      .finally(() => {
        this.flushing = null;
      });
    // The counts that waited behind a retry go next.
    return retry === null ? this.flushing : this.flushing.then(() => (this.inDoubt === null ? this.flush() : undefined));
  }

  /** One agent's buckets, newest period first then by name; `period` is a prefix (`2026-02-16` = that day). */
  async rows(instanceId: string, period: string | null): Promise<MetricRow[]> {
    await this.flush();
    return this.reader.rows(instanceId, period);
  }

  /** Sums per agent: `[{instance_id, metrics: {name: sum}}]` by instance_id. */
  async totals(period: string | null): Promise<Array<{ instance_id: string; metrics: Record<string, number> }>> {
    await this.flush();
    const out: Array<{ instance_id: string; metrics: Record<string, number> }> = [];
    for (const r of await this.reader.totals(period)) {
      let last = out.at(-1);
      if (!last || last.instance_id !== r.instance_id) out.push((last = { instance_id: r.instance_id, metrics: {} }));
      last.metrics[r.metric_name] = r.total;
    }
    return out;
  }
}
