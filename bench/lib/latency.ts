/** Latency histogram (1 µs resolution up to ~1 s, exact overflow list above). */

const HIST_BINS = 1 << 20; // µs

export class LatencyHistogram {
  private readonly bins = new Uint32Array(HIST_BINS);
  private readonly overflow: number[] = [];
  private overflowDropped = 0;
  count = 0;
  private sum = 0;
  private maxUs = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const us = Math.round(ms * 1000);
    this.count++;
    this.sum += us;
    if (us > this.maxUs) this.maxUs = us;
    if (us < HIST_BINS) this.bins[us < 0 ? 0 : us]!++;
    else if (this.overflow.length < 100_000) this.overflow.push(us);
    else this.overflowDropped++;
  }

  /** Percentile p (0..100) in ms, or null when empty. */
  percentile(p: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < HIST_BINS; i++) {
      seen += this.bins[i]!;
      if (seen >= rank) return i / 1000;
    }
    const sorted = [...this.overflow].sort((a, b) => a - b);
    const idx = Math.min(sorted.length - 1, rank - seen - 1);
    return (idx >= 0 ? sorted[idx]! : this.maxUs) / 1000;
  }

  summary(): LatencySummary {
    const r = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
    return {
      p50: r(this.percentile(50)),
      p90: r(this.percentile(90)),
      p99: r(this.percentile(99)),
      p99_9: r(this.percentile(99.9)),
      max: r(this.count ? this.maxUs / 1000 : null),
      mean: r(this.count ? this.sum / this.count / 1000 : null),
    };
  }
}

export interface LatencySummary {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p99_9: number | null;
  max: number | null;
  mean: number | null;
}
