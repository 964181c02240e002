/**
 * The durable write path alone, without HTTP (STYLE: bench the hot paths alone), to tell where
 * PUT throughput goes. 1 KB state.put spread over 1000 keys, WAL synced at each commit (--sync full), real file:
 *   dispatcher  the writer's own dispatcher (createDispatcher) in this thread: batches of B
 *               envelopes, one commit each. The storage ceiling (SQLite + fsync + the schema).
 *   rpc         the real WriterClient: worker thread, MessagePort, group commit, with N callers
 *               in flight. The ceiling of everything behind the HTTP layer.
 * Compare with the `put` scenario of bench/suites/http.ts (the same writes through koor-server).
 *
 *   npm run bench -- writer [--quick]
 */
import path from 'node:path';
import { silentLogger } from '../../src/log.js';
import { WriterClient } from '../../src/rpc/writer-client.js';
import { WRITER_LIMITS } from '../../src/shared/limits.js';
import { openWriterDb } from '../../workers/writer/sqlite/db.js';
import { sqliteDriver } from '../../workers/writer/sqlite/driver.js';
import { createDispatcher } from '../../workers/writer/dispatch.js';
import { makeDoc } from '../lib/doc.js';
import { withTimeout } from '../lib/async.js';
import { makeTempDir } from '../lib/cleanup.js';
import { cpuWindow } from '../lib/cpu.js';
import { fmtCores, fmtInt, fmtMs } from '../lib/format.js';
import { LatencyHistogram } from '../lib/latency.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';

const PUT_KEYS = 1000;
const BATCH_SIZES = [1, 10, 50, 200];
const IN_FLIGHT = [1, 10, 50, 200];

interface PointResult {
  puts_per_s: number;
  puts: number;
  duration_s: number;
  /** dispatcher: per commit (batch); rpc: per call. */
  latency_ms: ReturnType<LatencyHistogram['summary']>;
  /** CPU per put in this process, µs (all threads). */
  cpu_us_per_put: number;
  /** rpc: busiest non-main thread = the writer worker. */
  main_cores: number;
  writer_cores: number | null;
  failed: number;
  /** % of the window some task was stalled on I/O (Linux PSI), and CPU used by other processes. */
  io_stall_pct: number | null;
  other_cores: number;
  /** Bytes handed to write calls (WAL frames, checkpoints) and bytes sent to the device, per put. */
  wchar_per_put: number | null;
  device_bytes_per_put: number | null;
}

const perPut = (v: number | undefined, puts: number): number | null => (v === undefined || puts === 0 ? null : Math.round(v / puts));

function putReq(value: Uint8Array, i: number) {
  return { key: `bench/put/${i % PUT_KEYS}`, value, content_type: 'application/json', updated_by: '' };
}

async function dispatcherPoint(dir: string, batch: number, durationS: number, value: Uint8Array): Promise<PointResult> {
  const db = openWriterDb(path.join(dir, `dispatcher-${batch}.db`), WRITER_LIMITS);
  try {
    // As the writer thread runs it: the WAL checkpointed after a batch, not inside COMMIT.
    const driver = sqliteDriver(db, WRITER_LIMITS.wal_checkpoint_bytes);
    const d = createDispatcher(driver);
    const hist = new LatencyHistogram();
    let id = 1;
    let puts = 0;
    let failed = 0;
    const stop = cpuWindow({ self: process.pid });
    const t0 = performance.now();
    const until = t0 + durationS * 1000;
    while (performance.now() < until) {
      const envs = [];
      for (let j = 0; j < batch; j++) {
        envs.push({ id, method: 'state.put', deadline: Date.now() + 60_000, req: putReq(value, id) });
        id++;
      }
      const a = performance.now();
      const { replies, commitError } = await d.run(envs);
      hist.record(performance.now() - a);
      driver.afterBatch(false);
      if (commitError) failed += batch;
      else for (const r of replies) r.ok ? puts++ : failed++;
      // Let timers (the suite deadline) run now and then.
      if (id % 5000 < batch) await new Promise((r) => setImmediate(r));
    }
    const wall = (performance.now() - t0) / 1000;
    const cpu = stop();
    return {
      puts_per_s: Math.round(puts / wall),
      puts,
      duration_s: Math.round(wall * 1000) / 1000,
      latency_ms: hist.summary(),
      cpu_us_per_put: puts ? Math.round((cpu.loadgen.cpu_s / puts) * 1e7) / 10 : 0,
      main_cores: cpu.loadgen.cores,
      writer_cores: null,
      failed,
      io_stall_pct: cpu.pressure_pct?.io_some ?? null,
      other_cores: cpu.others.cores,
      wchar_per_put: perPut(cpu.procs.self?.io?.wchar, puts),
      device_bytes_per_put: perPut(cpu.procs.self?.io?.write_bytes, puts),
    };
  } finally {
    db.close();
  }
}

async function rpcPoint(dir: string, inFlight: number, durationS: number, value: Uint8Array): Promise<PointResult> {
  const writer = new WriterClient({ dbPath: path.join(dir, `rpc-${inFlight}.db`), logLevel: 'warn', deadlineMs: 5000, maxInFlight: 20_000, log: silentLogger() });
  await writer.start();
  try {
    let stopping = false;
    let puts = 0;
    let failed = 0;
    let n = 0;
    let hist = new LatencyHistogram();
    const caller = async () => {
      while (!stopping) {
        const a = performance.now();
        try {
          await writer.call('state.put', putReq(value, n++));
          puts++;
        } catch {
          failed++;
        }
        hist.record(performance.now() - a);
      }
    };
    // Warm-up (JIT, page cache), then the measured window.
    const warm = Array.from({ length: inFlight }, caller);
    await new Promise((r) => setTimeout(r, 500));
    stopping = true;
    await Promise.all(warm);
    stopping = false;
    puts = 0;
    failed = 0;
    hist = new LatencyHistogram();
    const stop = cpuWindow({ self: process.pid });
    const t0 = performance.now();
    const callers = Array.from({ length: inFlight }, caller);
    await new Promise((r) => setTimeout(r, durationS * 1000));
    stopping = true;
    await Promise.all(callers);
    const wall = (performance.now() - t0) / 1000;
    const cpu = stop();
    const threads = cpu.procs.self?.threads ?? [];
    return {
      puts_per_s: Math.round(puts / wall),
      puts,
      duration_s: Math.round(wall * 1000) / 1000,
      latency_ms: hist.summary(),
      cpu_us_per_put: puts ? Math.round((cpu.loadgen.cpu_s / puts) * 1e7) / 10 : 0,
      main_cores: threads.find((t) => t.main)?.cores ?? 0,
      writer_cores: threads.find((t) => !t.main)?.cores ?? null,
      failed,
      io_stall_pct: cpu.pressure_pct?.io_some ?? null,
      other_cores: cpu.others.cores,
      wchar_per_put: perPut(cpu.procs.self?.io?.wchar, puts),
      device_bytes_per_put: perPut(cpu.procs.self?.io?.write_bytes, puts),
    };
  } finally {
    await writer.close(2000);
  }
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const durationS = opts.quick ? 2 : 5;
  const value = new Uint8Array(Buffer.from(makeDoc()));
  const tmp = makeTempDir('koor-bench-writer-');
  const failures: string[] = [];
  try {
    const dispatcher: Record<string, PointResult> = {};
    for (const b of BATCH_SIZES) {
      opts.log(`dispatcher batch ${b}: ${durationS}s`);
      const r = await withTimeout(dispatcherPoint(tmp.dir, b, durationS, value), (durationS + 30) * 1000, `dispatcher batch ${b}`);
      dispatcher[`batch_${b}`] = r;
      opts.log(`dispatcher batch ${b}: ${fmtInt(r.puts_per_s)} puts/s, commit p50 ${fmtMs(r.latency_ms.p50)} ms`);
      if (r.failed) failures.push(`dispatcher batch ${b}: ${r.failed} failed puts`);
    }
    const rpc: Record<string, PointResult> = {};
    for (const n of IN_FLIGHT) {
      opts.log(`rpc ${n} in flight: ${durationS}s`);
      const r = await withTimeout(rpcPoint(tmp.dir, n, durationS, value), (durationS + 30) * 1000, `rpc ${n} in flight`);
      rpc[`in_flight_${n}`] = r;
      opts.log(`rpc ${n} in flight: ${fmtInt(r.puts_per_s)} puts/s, p50 ${fmtMs(r.latency_ms.p50)} ms, writer ${fmtCores(r.writer_cores)} cores`);
      if (r.failed) failures.push(`rpc ${n} in flight: ${r.failed} failed puts`);
    }
    const tables: BenchTable[] = [
      {
        title: `Writer alone: 1 KB state.put over ${PUT_KEYS} keys, WAL synced at each commit, ${durationS}s per point${opts.quick ? ' (quick)' : ''}`,
        columns: ['layer', 'batch / in flight', 'puts/s', 'p50 ms', 'p99 ms', 'cpu us/put', 'main cores', 'writer cores', 'written B/put', 'io stall %', 'other cores', 'failed'],
        rows: [
          ...BATCH_SIZES.map((b) => {
            const r = dispatcher[`batch_${b}`]!;
            return ['dispatcher (per commit)', b, fmtInt(r.puts_per_s), fmtMs(r.latency_ms.p50), fmtMs(r.latency_ms.p99), r.cpu_us_per_put, fmtCores(r.main_cores), '-', fmtInt(r.wchar_per_put), r.io_stall_pct ?? '-', fmtCores(r.other_cores), r.failed];
          }),
          ...IN_FLIGHT.map((n) => {
            const r = rpc[`in_flight_${n}`]!;
            return ['WriterClient rpc (per call)', n, fmtInt(r.puts_per_s), fmtMs(r.latency_ms.p50), fmtMs(r.latency_ms.p99), r.cpu_us_per_put, fmtCores(r.main_cores), fmtCores(r.writer_cores), fmtInt(r.wchar_per_put), r.io_stall_pct ?? '-', fmtCores(r.other_cores), r.failed];
          }),
        ],
      },
    ];
    return {
      suite: 'writer',
      ok: failures.length === 0,
      config: { duration_s: durationS, doc_bytes: value.byteLength, put_keys: PUT_KEYS, data_dir: tmp.dir },
      dispatcher,
      rpc,
      notes: [
        'dispatcher: createDispatcher(sqliteDriver(db)).run(batch) in the bench thread = SQLite + fsync + schema, no messaging; latency is per commit.',
        'rpc: WriterClient with N callers awaiting state.put in a loop = worker thread + MessagePort + group commit, no HTTP; latency is per call.',
        'No load generator runs here: both layers have the 2 cores to themselves (other processes permitting).',
      ],
      warnings: failures,
      tables,
    };
  } finally {
    tmp.remove();
  }
}
