import { collectDefaultMetrics, Registry, type Metric } from 'prom-client';
import type { HistogramSnapshot } from '../../schemas/rpc/writer-stats.js';
import type { Awaitable } from '../shared/awaitable.js';
import { then } from '../shared/awaitable.js';

export type Labels = Readonly<Record<string, string | number>>;
export interface Sample {
  labels: Labels;
  value: number;
}
export interface HistogramSeries {
  labels: Labels;
  h: HistogramSnapshot;
}

type Kind = 'counter' | 'gauge' | 'histogram';
interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}

const NO_LABELS: Labels = Object.freeze({});

/** A counter's or gauge's value by name and labels, as read at one moment. */
export type MetricsSnapshot = (name: string, labels?: Labels) => number;

/**
 * A metric whose values are read from their source when scraped. Hot paths (a cached GET, an
 * event fanned out to a thousand subscribers) keep counting into plain numbers and typed arrays,
 * which cost a few nanoseconds; prom-client's own Counter.inc() hashes its labels on every call.
 * Implements what prom-client's Registry calls on a metric: get() and reset().
 */
class Sampled {
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: Kind,
    readonly read: () => Awaitable<MetricValue[]>,
  ) {}

  async get(): Promise<{ name: string; help: string; type: Kind; aggregator: string; values: MetricValue[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: await this.read() };
  }

  reset(): void {}
}

function histogramValues(name: string, series: readonly HistogramSeries[]): MetricValue[] {
  const out: MetricValue[] = [];
  for (const { labels, h } of series) {
    for (let i = 0; i < h.cumulative.length; i++) {
      const le = i < h.bounds.length ? h.bounds[i]! : '+Inf';
      out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: h.cumulative[i]! });
    }
    out.push({ metricName: `${name}_sum`, labels, value: h.sum });
    out.push({ metricName: `${name}_count`, labels, value: h.count });
  }
  return out;
}

const sameLabels = (a: Labels, b: Labels): boolean => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => String(a[k]) === String(b[k]));
};

/**
 * The server's one metrics registry (prom-client): every component's figures are defined here
 * by name, read from the component when scraped, rendered in the Prometheus text format by
 * `GET /metrics`, and read back by name for the JSON of `GET /api/metrics`.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly sampled = new Map<string, Sampled>();

  constructor(opts: { processMetrics?: boolean } = {}) {
    // CPU, memory, heap, event-loop lag, GC, handles: prom-client's standard process metrics.
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  counter(name: string, help: string, read: () => number): void {
    this.add(new Sampled(name, help, 'counter', () => [{ labels: NO_LABELS, value: read() }]));
  }

  /** A gauge read when scraped; a count the database answers asynchronously (cluster mode) may be a promise. */
  gauge(name: string, help: string, read: () => Awaitable<number>): void {
    this.add(
      new Sampled(name, help, 'gauge', () => {
        return then(read(), (value) => [{ labels: NO_LABELS, value }]);
      }),
    );
  }

  /** A counter or gauge with labels: one sample per label set. */
  labeled(name: string, help: string, type: 'counter' | 'gauge', read: () => Awaitable<Sample[]>): void {
    this.add(new Sampled(name, help, type, read));
  }

  histogram(name: string, help: string, read: () => HistogramSeries[]): void {
    this.add(new Sampled(name, help, 'histogram', () => histogramValues(name, read())));
  }

  /**
   * Every counter and gauge defined here read once, then looked up by name and labels (0 when it
   * has no such sample): what `GET /api/metrics` reports, consistent within one reply.
   */
  async snapshot(): Promise<MetricsSnapshot> {
    const read = new Map<string, MetricValue[]>();
    for (const [name, m] of this.sampled) if (m.type !== 'histogram') read.set(name, await m.read());
    return (name, labels = NO_LABELS) => {
      const values = read.get(name);
      if (!values) throw new Error(`no metric named ${name}`);
      return values.find((v) => v.metricName === undefined && sameLabels(v.labels, labels))?.value ?? 0;
    };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  private add(m: Sampled): void {
    this.sampled.set(m.name, m);
    this.registry.registerMetric(m as unknown as Metric);
  }
}
