/** The http suite's durable PUT with state-history retention active, and off: does pruning old versions cost the writes? */
import fs from 'node:fs';
import path from 'node:path';
import { fmtInt, fmtMs } from '../lib/format.js';
import { runLoad } from '../lib/load.js';
import { spawnKoor } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { CONNECTIONS, PIPELINING, PUT_KEYS, scenarios, type Target } from './scenarios.js';

/** Bytes of every file in `dir` (data.db, its WAL and shm). */
function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

/**
 * The PUT run twice more, on two fresh servers: state-history retention active (the default keep
 * of 100 versions, a pass every second) and off (keep 0). The warm-up writes every key past 100
 * versions, so the measured run prunes on every write. Reports req/s, p50/p99 and the data
 * directory's size before and after the measured run.
 */
export async function retentionPut(opts: BenchOptions, doc: string, durationS: number, failures: string[]) {
  const modes = [
    { id: 'active', label: 'retention active (keep 100, pass every 1 s)', args: ['--state-history-keep', '100', '--prune-interval', '1s'] },
    { id: 'off', label: 'retention off (keep 0)', args: ['--state-history-keep', '0'] },
  ] as const;
  const results: Record<string, unknown> = {};
  const rows: BenchTable['rows'] = [];
  for (const m of modes) {
    const proc = await spawnKoor([...m.args]);
    try {
      const target: Target = { name: 'koor', proc, etag: '', getHeaders: [] };
      const load = scenarios(doc).find((s) => s.id === 'put')!.load(target);
      const common = { ...load, connections: CONNECTIONS, pipelining: PIPELINING, okStatuses: [200], timeoutS: 5 };
      // Long enough to take every key past 100 versions (~10-15k PUT/s over 1000 keys).
      opts.log(`put ${m.id}: filling history (12s)`);
      await runLoad({ ...common, durationS: 12 });
      const before = dirBytes(proc.dataDir);
      opts.log(`put ${m.id}: measuring ${durationS}s`);
      const r = await runLoad({ ...common, durationS, pids: { koor: proc.pid } });
      const after = dirBytes(proc.dataDir);
      const metrics = (await (await fetch(`${proc.url}/api/metrics`)).json()) as { retention: { state_history_pruned: number } };
      if (r.errors > 0 || r.unexpected > 0) failures.push(`put ${m.id}: ${r.errors} errors, ${r.unexpected} unexpected statuses`);
      const okRps = Math.round(r.ok_responses / r.duration_s);
      results[m.id] = { rps: okRps, latency_ms: r.latency_ms, dir_bytes_before: before, dir_bytes_after: after, state_history_pruned: metrics.retention.state_history_pruned, server_cores: r.cpu.procs.koor?.cores ?? null };
      rows.push([m.label, fmtInt(okRps), fmtMs(r.latency_ms.p50), fmtMs(r.latency_ms.p99), (before / 1e6).toFixed(1), (after / 1e6).toFixed(1), fmtInt(metrics.retention.state_history_pruned)]);
    } finally {
      await proc.stop();
    }
  }
  const table: BenchTable = {
    title: `Durable PUT 1 KB over ${PUT_KEYS} keys with every key past 100 versions: retention active vs off, ${durationS}s each`,
    columns: ['server', 'PUT/s', 'p50 ms', 'p99 ms', 'data dir MB before', 'after', 'history rows pruned'],
    rows,
  };
  return { table, results };
}
