import type { HistogramSeries, Sample } from './registry.js';

/** Upper bounds (seconds) of the request-latency histogram. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface RouteFigures {
  method: string;
  route: string;
  byStatus: Map<number, number>;
  /** Per bucket (plus +Inf), not cumulative. */
  buckets: Float64Array;
  sum: number;
}

/** What a recorder needs of a request: when it started (performance.now()). */
export interface Timed {
  t0: number;
}

/**
 * Requests by route pattern and status, and their latency, counted into plain numbers as each
 * reply is written; the registry reads them when scraped. One entry per route pattern (never
 * per URL), so the label set stays bounded whatever clients send.
 */
export class HttpMetrics {
  private readonly routes: RouteFigures[] = [];
  private readonly byKey = new Map<string, RouteFigures>();

  /** A function to call once a reply with `status` was written for `method route`. */
  recorder(method: string, route: string): (req: Timed, status: number) => void {
    const key = `${method} ${route}`;
    let f = this.byKey.get(key);
    if (!f) {
      f = { method, route, byStatus: new Map(), buckets: new Float64Array(LATENCY_BUCKETS.length + 1), sum: 0 };
      this.byKey.set(key, f);
      this.routes.push(f);
    }
    const fig = f;
    return (req, status) => {
      const s = (performance.now() - req.t0) / 1000;
      fig.sum += s;
      let i = 0;
      while (i < LATENCY_BUCKETS.length && s > LATENCY_BUCKETS[i]!) i++;
      fig.buckets[i]!++;
      fig.byStatus.set(status, (fig.byStatus.get(status) ?? 0) + 1);
    };
  }

  requests(): Sample[] {
    const out: Sample[] = [];
    for (const f of this.routes) for (const [status, n] of f.byStatus) out.push({ labels: { method: f.method, route: f.route, status }, value: n });
    return out;
  }

  latency(): HistogramSeries[] {
    const out: HistogramSeries[] = [];
    for (const f of this.routes) {
      const cumulative: number[] = [];
      let run = 0;
      for (const n of f.buckets) cumulative.push((run += n));
      if (run === 0) continue;
      out.push({ labels: { method: f.method, route: f.route }, h: { bounds: LATENCY_BUCKETS, cumulative, sum: f.sum, count: run } });
    }
    return out;
  }
}
