/** Load generation with autocannon, programmatic, in this process: bounded runs, 1 µs latencies, CPU of the named processes. */
import autocannon from 'autocannon';
import { withTimeout } from './async.js';
import { cpuWindow, type CpuReport } from './cpu.js';
import { LatencyHistogram, type LatencySummary } from './latency.js';

export interface LoadSpec {
  /** Full URL of the default request (scheme, 127.0.0.1, port, path). */
  url: string;
  method?: 'GET' | 'PUT' | 'POST' | 'DELETE';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Per-connection request sequence; see autocannon's setupClient / client.setRequests. */
  setupClient?: (client: autocannon.Client) => void;
  connections: number;
  pipelining?: number;
  /** Time bound of the run, s; with `amount`, only the bound of the guard timeout. */
  durationS: number;
  /** Stop after this many requests instead of after `durationS` (autocannon's `amount`). */
  amount?: number;
  /** Per-request timeout, s (default 5). */
  timeoutS?: number;
  /** Statuses that count as success; any other status is reported as unexpected. */
  okStatuses: number[];
  /** Processes whose CPU use is recorded during the run. */
  pids?: Record<string, number>;
}

export interface LoadResult {
  /** Responses received (any status) / wall seconds of the run. */
  rps: number;
  responses: number;
  ok_responses: number;
  duration_s: number;
  latency_ms: LatencySummary;
  statuses: Record<string, number>;
  /** Responses whose status is not in okStatuses. */
  unexpected: number;
  /** Connection errors, including timeouts. */
  errors: number;
  timeouts: number;
  cpu: CpuReport;
  /** autocannon's own figures, for cross-checking (its latency histogram has 1 ms resolution). */
  autocannon: { requests_total: number; duration_s: number; req_per_s_mean: number; latency_p50_ms: number; latency_p99_ms: number; non2xx: number };
}

/**
 * One bounded autocannon run. Latency is recorded per response from the `response` event at
 * 1 µs resolution (autocannon's own histogram rounds to 1 ms, useless below a millisecond).
 */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const hist = new LatencyHistogram();
  const statuses: Record<string, number> = {};
  const ok = new Set(spec.okStatuses);
  let okCount = 0;
  let unexpected = 0;
  let stopCpu: (() => CpuReport) | null = null;
  let t0 = 0n;
  const opts: autocannon.Options = {
    url: spec.url,
    method: spec.method ?? 'GET',
    connections: spec.connections,
    pipelining: spec.pipelining ?? 1,
    duration: spec.durationS,
    timeout: spec.timeoutS ?? 5,
    ...(spec.headers ? { headers: spec.headers } : {}),
    ...(spec.body !== undefined ? { body: spec.body } : {}),
    ...(spec.setupClient ? { setupClient: spec.setupClient } : {}),
    ...(spec.amount !== undefined ? { amount: spec.amount } : {}),
  };
  const run = new Promise<LoadResult>((resolve, reject) => {
    const instance = autocannon(opts, (err: unknown, res: autocannon.Result) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      const cpu = stopCpu ? stopCpu() : cpuWindow({})();
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      resolve({
        rps: Math.round(hist.count / wall),
        responses: hist.count,
        ok_responses: okCount,
        duration_s: Math.round(wall * 1000) / 1000,
        latency_ms: hist.summary(),
        statuses,
        unexpected,
        errors: res.errors,
        timeouts: res.timeouts,
        cpu,
        autocannon: {
          requests_total: res.requests.total,
          duration_s: res.duration,
          req_per_s_mean: res.requests.average,
          latency_p50_ms: res.latency.p50,
          latency_p99_ms: res.latency.p99,
          non2xx: res.non2xx,
        },
      });
    });
    t0 = process.hrtime.bigint();
    stopCpu = cpuWindow(spec.pids ?? {});
    instance.on('response', (_client: autocannon.Client, statusCode: number, _bytes: number, ms: number) => {
      hist.record(ms);
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (ok.has(statusCode)) okCount++;
      else unexpected++;
    });
  });
  // autocannon stops itself at `duration` (or `amount`); this only guards against a wedged run.
  return withTimeout(run, (spec.durationS + (spec.timeoutS ?? 5) + 15) * 1000, `load run ${spec.method ?? 'GET'} ${spec.url}`);
}
