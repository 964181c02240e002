/**
 * Figures the writer thread keeps about its own work (batch sizes, commit latency), in shared
 * memory the front reads when /metrics is scraped: no RPC, nothing queued behind writes, no cost
 * per request in the front. The front allocates the buffer once and hands it to every writer it
 * starts, so the counts run on across writer restarts. One writer thread writes; readers may see
 * a scrape taken mid-update, which a monitoring sample tolerates (aligned doubles never tear).
 */

/** Upper bounds (envelopes) of the batch-size histogram buckets. */
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] as const;
/** Upper bounds (seconds) of the commit-latency histogram buckets. */
const COMMIT_SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

// Layout: fixed slots, then each histogram's buckets (one per bound plus +Inf, not cumulative).
const BATCHES = 0;
const ENVELOPES = 1;
const COMMIT_SECONDS_SUM = 2;
const COMMIT_FAILURES = 3;
/**
 * The highest envelope id of the batch the writer has begun to run, set before the
 * batch's transaction starts: an envelope with a higher id has certainly not been committed, so a
 * caller that gives up on it (its deadline, the writer's death) can be told so for certain. An
 * integer slot read and written with Atomics (sequentially consistent), unlike the figures.
 */
const STARTED_THROUGH = 4;
/**
 * The newest state revision committed (SQLite: the one writer's), published after each COMMIT
 * and before the batch's replies leave, with Atomics like STARTED_THROUGH: the front answers a
 * lost compare with it instead of reading it from SQLite. -1 until one is published.
 */
const COMMITTED_REVISION = 5;
/** WAL checkpoints: by the checkpointer thread, the tail after one in the writer, all of it in the writer. */
const CHECKPOINTS_AT = 6;
export const CHECKPOINT_KINDS = ['background', 'tail', 'inline'] as const;
export type CheckpointKind = (typeof CHECKPOINT_KINDS)[number];
/**
 * The writer thread's V8 heap, bytes: used and total (what it holds of the process's memory), as
 * it last took them (after a batch, at most once a second). The front's own heap is Node's
 * `nodejs_heap_*`; this is the other large heap of the process.
 */
const HEAP_USED = CHECKPOINTS_AT + CHECKPOINT_KINDS.length;
const HEAP_TOTAL = HEAP_USED + 1;
const BATCH_BUCKETS_AT = HEAP_TOTAL + 1;
const COMMIT_BUCKETS_AT = BATCH_BUCKETS_AT + BATCH_SIZE_BUCKETS.length + 1;
const SLOTS = COMMIT_BUCKETS_AT + COMMIT_SECONDS_BUCKETS.length + 1;

export function createWriterStatsBuffer(): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(SLOTS * Float64Array.BYTES_PER_ELEMENT);
  new BigInt64Array(buffer, COMMITTED_REVISION * BigInt64Array.BYTES_PER_ELEMENT, 1)[0] = -1n;
  return buffer;
}

function bucketOf(bounds: readonly number[], v: number): number {
  let i = 0;
  while (i < bounds.length && v > bounds[i]!) i++;
  return i;
}

/** A histogram as Prometheus wants it: cumulative counts per upper bound, then +Inf. */
export interface HistogramSnapshot {
  bounds: readonly number[];
  cumulative: number[];
  sum: number;
  count: number;
}

export class WriterStatsView {
  private readonly a: Float64Array;
  private readonly started: BigInt64Array;
  private readonly revision: BigInt64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.a = new Float64Array(buffer);
    this.started = new BigInt64Array(buffer, STARTED_THROUGH * BigInt64Array.BYTES_PER_ELEMENT, 1);
    this.revision = new BigInt64Array(buffer, COMMITTED_REVISION * BigInt64Array.BYTES_PER_ELEMENT, 1);
  }

  /** Writer side: one transaction of `envelopes` committed (or failed) after `seconds`. */
  recordBatch(envelopes: number, seconds: number, failed: boolean): void {
    const a = this.a;
    a[BATCHES]!++;
    a[ENVELOPES]! += envelopes;
    a[COMMIT_SECONDS_SUM]! += seconds;
    if (failed) a[COMMIT_FAILURES]!++;
    a[BATCH_BUCKETS_AT + bucketOf(BATCH_SIZE_BUCKETS, envelopes)]!++;
    a[COMMIT_BUCKETS_AT + bucketOf(COMMIT_SECONDS_BUCKETS, seconds)]!++;
  }

  /** Writer side: a batch whose envelopes' highest id is `id` is about to run. */
  startBatch(id: number): void {
    if (id > this.startedThrough) Atomics.store(this.started, 0, BigInt(id));
  }

  /** Front side: envelopes with an id above this have not begun to run (see STARTED_THROUGH). */
  get startedThrough(): number {
    return Number(Atomics.load(this.started, 0));
  }

  /** Writer side: `revision` is the newest state revision committed (at start-up, then after each batch, before its replies). */
  publishRevision(revision: number): void {
    Atomics.store(this.revision, 0, BigInt(revision));
  }

  /** Front side: the newest state revision the writer committed (see COMMITTED_REVISION); -1 until a writer published one. */
  get committedRevision(): number {
    return Number(Atomics.load(this.revision, 0));
  }

  /** Writer side: a WAL checkpoint finished. */
  recordCheckpoint(kind: CheckpointKind): void {
    this.a[CHECKPOINTS_AT + CHECKPOINT_KINDS.indexOf(kind)]!++;
  }

  /** Writer side: its V8 heap now (v8.getHeapStatistics). */
  recordHeap(used: number, total: number): void {
    this.a[HEAP_USED] = used;
    this.a[HEAP_TOTAL] = total;
  }

  /** The writer thread's V8 heap as it last recorded it, bytes (0 before it did). */
  get heap(): { used: number; total: number } {
    return { used: this.a[HEAP_USED]!, total: this.a[HEAP_TOTAL]! };
  }

  checkpoints(kind: CheckpointKind): number {
    return this.a[CHECKPOINTS_AT + CHECKPOINT_KINDS.indexOf(kind)]!;
  }

  get batches(): number {
    return this.a[BATCHES]!;
  }

  get envelopes(): number {
    return this.a[ENVELOPES]!;
  }

  get commitFailures(): number {
    return this.a[COMMIT_FAILURES]!;
  }

  batchSizes(): HistogramSnapshot {
    return this.snapshot(BATCH_SIZE_BUCKETS, BATCH_BUCKETS_AT, this.a[ENVELOPES]!);
  }

  commitSeconds(): HistogramSnapshot {
    return this.snapshot(COMMIT_SECONDS_BUCKETS, COMMIT_BUCKETS_AT, this.a[COMMIT_SECONDS_SUM]!);
  }

  private snapshot(bounds: readonly number[], at: number, sum: number): HistogramSnapshot {
    const cumulative: number[] = [];
    let run = 0;
    for (let i = 0; i <= bounds.length; i++) {
      run += this.a[at + i]!;
      cumulative.push(run);
    }
    return { bounds, cumulative, sum, count: run };
  }
}
