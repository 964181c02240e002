/**
 * HTTP benchmark: koor-server against a bare uWS app serving the same 1 KB JSON from a Map
 * (bench/baselines/uws.ts). Both are separate processes; the load generator (autocannon) runs in
 * this process. Same settings for both (50 connections, pipelining 1, same duration, a warm-up
 * that is not counted), back to back, for:
 *   get      GET /api/state/bench/doc (1 KB JSON, 200)
 *   get_304  the same with If-None-Match: the current ETag (304, no body)
 *   put      PUT 1 KB JSON spread over 1000 keys (koor: durable, the WAL synced at each commit; baseline: Map)
 * Goals (2 cores): koor GET >= 0.8x baseline; durable PUT >= 40,000/s.
 *
 *   npm run bench -- http [--quick]
 *
 * Then the PUT with state-history retention active and off (bench/http/retention.ts), and the cost
 * of operations (bench/http/operations.ts, also the operations suite).
 */
import { withTimeout } from '../lib/async.js';
import { DOC_BYTES, makeDoc } from '../lib/doc.js';
import { fmtCores, fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { runLoad, type LoadResult } from '../lib/load.js';
import { spawnBenchScript, spawnKoor } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { operationsCost } from '../http/operations.js';
import { retentionPut } from '../http/retention.js';
import { CONNECTIONS, PIPELINING, PUT_KEYS, prepare, scenarios } from '../http/scenarios.js';

const GET_RATIO_GOAL = 0.8;
const DURABLE_PUT_GOAL = 40_000;
/** Load-generator CPU above this (cores) means autocannon, not the server, may be the limit. */
const LOADGEN_SATURATED_CORES = 0.9;
/** Other processes using more than this (cores) during a measured run: rerun it once. */
const CONTAMINATED_CORES = 0.25;

type RunSummary = Pick<LoadResult, 'rps' | 'responses' | 'ok_responses' | 'duration_s' | 'latency_ms' | 'statuses' | 'unexpected' | 'errors' | 'timeouts' | 'cpu' | 'autocannon'> & {
  /** Measured runs made (more than one when other processes used the cores meanwhile). */
  attempts: number;
  warmup: { responses: number; unexpected: number; errors: number; statuses: Record<string, number> };
};

const topOthers = (r: LoadResult): string => {
  const o = r.cpu.others;
  const seen = o.top
    .filter((x) => !x.kernel)
    .slice(0, 3)
    .map((x) => `${x.comm}[${x.pid}] ${fmtCores(x.cores)}`);
  if (o.cores - o.seen_cores >= 0.05) seen.push(`${fmtCores(o.cores - o.seen_cores)} in processes that came and went`);
  return seen.join(', ');
};

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const durationS = opts.quick ? 3 : 10;
  const warmupS = opts.quick ? 1 : 2;
  /** Reruns of a measured run that other processes disturbed (bounded: quick stays < 60 s). */
  const maxReruns = opts.quick ? 1 : 2;
  const doc = makeDoc();
  /** Errors and wrong statuses: the run is invalid (ok: false). */
  const failures: string[] = [];
  /** Other processes competing for the cores: figures are noisy but valid. */
  const noise: string[] = [];
  const notes: string[] = [];

  opts.log('starting koor-server and the bare-uWS baseline (separate processes)');
  const [koorProc, baseProc] = await Promise.all([spawnKoor(), spawnBenchScript('baseline-uws', 'baselines/uws.js')]);
  try {
    opts.log(`koor-server pid ${koorProc.pid} ${koorProc.url} (data ${koorProc.dataDir}); baseline pid ${baseProc.pid} ${baseProc.url}`);
    const targets = await withTimeout(Promise.all([prepare('koor', koorProc, doc), prepare('baseline', baseProc, doc)]), 15_000, 'prepare');
    const [koor, base] = targets;
    if (koor.getHeaders.join() !== base.getHeaders.join()) {
      failures.push(`GET response headers differ: koor [${koor.getHeaders}] vs baseline [${base.getHeaders}]`);
    }
    const pids = { koor: koorProc.pid, baseline: baseProc.pid };

    const results: Record<string, Record<string, RunSummary>> = {};
    let koorPutAcked = 0;
    let koorPutRuns = 0;
    for (const sc of scenarios(doc)) {
      results[sc.id] = {};
      for (const t of targets) {
        const l = sc.load(t);
        const common = { ...l, connections: CONNECTIONS, pipelining: PIPELINING, okStatuses: sc.okStatuses, timeoutS: 5 };
        const all: LoadResult[] = [];
        const checked = (what: string, x: LoadResult): LoadResult => {
          all.push(x);
          if (x.errors > 0 || x.unexpected > 0) {
            failures.push(`${sc.id} ${t.name} ${what}: ${x.errors} connection errors (${x.timeouts} timeouts), ${x.unexpected} unexpected statuses ${JSON.stringify(x.statuses)}`);
          }
          if (x.responses === 0) failures.push(`${sc.id} ${t.name} ${what}: no responses at all`);
          return x;
        };
        opts.log(`${sc.id} ${t.name}: warm-up ${warmupS}s`);
        const w = checked('warm-up', await runLoad({ ...common, durationS: warmupS }));
        opts.log(`${sc.id} ${t.name}: measuring ${durationS}s`);
        let r = checked('measured run', await runLoad({ ...common, durationS, pids }));
        let attempts = 1;
        while (r.cpu.others.cores > CONTAMINATED_CORES && attempts <= maxReruns) {
          // Someone else used the cores meanwhile: try again, keep the cleanest run.
          opts.log(`${sc.id} ${t.name}: other processes used ${fmtCores(r.cpu.others.cores)} cores (${topOthers(r)}); measuring again`);
          const again = checked('measured rerun', await runLoad({ ...common, durationS, pids }));
          attempts++;
          if (again.cpu.others.cores < r.cpu.others.cores) r = again;
        }
        if (r.cpu.others.cores > CONTAMINATED_CORES) {
          noise.push(`${sc.id} ${t.name}: other processes used ${fmtCores(r.cpu.others.cores)} cores during the measured run (${topOthers(r)})`);
        }
        if (sc.id === 'put' && t.name === 'koor') {
          koorPutAcked = all.reduce((a, x) => a + x.ok_responses, 0);
          koorPutRuns = all.length;
        }
        const { rps, responses, ok_responses, duration_s, latency_ms, statuses, unexpected, errors, timeouts, cpu, autocannon } = r;
        results[sc.id]![t.name] = {
          rps,
          responses,
          ok_responses,
          duration_s,
          latency_ms,
          statuses,
          unexpected,
          errors,
          timeouts,
          cpu,
          autocannon,
          attempts,
          warmup: { responses: w.responses, unexpected: w.unexpected, errors: w.errors, statuses: w.statuses },
        };
        opts.log(
          `${sc.id} ${t.name}: ${fmtInt(rps)} req/s p50 ${fmtMs(latency_ms.p50)} ms p99 ${fmtMs(latency_ms.p99)} ms; ` +
            `cores: ${t.name} ${fmtCores(cpu.procs[t.name]?.cores)}, loadgen ${fmtCores(cpu.loadgen.cores)}, other ${fmtCores(cpu.others.cores)}`,
        );
      }
    }

    // Every acknowledged PUT must be a committed version: sum of versions over the PUT keys
    // (each starts at 1 and is +1 per PUT) >= 200s counted; the excess is requests still in
    // flight when autocannon stopped (at most one per connection per run).
    const listRes = await fetch(`${koorProc.url}/api/state?limit=5000`, { signal: AbortSignal.timeout(10_000) });
    if (listRes.status !== 200) throw new Error(`koor: GET /api/state → ${listRes.status} ${await listRes.text()}`);
    const list = (await listRes.json()) as Array<{ key: string; version: number }>;
    const putRows = list.filter((x) => x.key.startsWith('bench/put/'));
    const committed = putRows.reduce((a, x) => a + x.version, 0);
    const putCheck = { keys_written: putRows.length, acked_200: koorPutAcked, committed_versions: committed, unacked_in_flight_at_stop: committed - koorPutAcked };
    if (committed < koorPutAcked) failures.push(`koor acknowledged ${koorPutAcked} PUTs but only ${committed} versions are committed`);
    if (committed - koorPutAcked > koorPutRuns * CONNECTIONS) {
      failures.push(`koor committed ${committed - koorPutAcked} more PUTs than it acknowledged (> ${koorPutRuns * CONNECTIONS} could be in flight at the ends of the runs)`);
    }
    if (putRows.length !== PUT_KEYS) failures.push(`koor has ${putRows.length} bench/put/ keys, want ${PUT_KEYS}`);

    const r = (id: string, n: 'koor' | 'baseline') => results[id]![n]!;
    const okRps = (x: RunSummary) => Math.round(x.ok_responses / x.duration_s);
    /** Server CPU per successful response, µs: independent of who saturated first. */
    const cpuPerReq = (x: RunSummary, n: 'koor' | 'baseline') => {
      const c = x.cpu.procs[n];
      return c && x.ok_responses > 0 ? Math.round((c.cpu_s / x.ok_responses) * 1e7) / 10 : null;
    };
    const ids = ['get', 'get_304', 'put'] as const;
    const ratios = Object.fromEntries(ids.map((id) => [id, ratio(okRps(r(id, 'koor')), okRps(r(id, 'baseline')))])) as Record<(typeof ids)[number], number | null>;
    /** baseline CPU/req ÷ koor CPU/req: 1.0 = koor costs the server no more than bare uWS. */
    const cpuEfficiency = Object.fromEntries(
      ids.map((id) => {
        const k = cpuPerReq(r(id, 'koor'), 'koor');
        const b = cpuPerReq(r(id, 'baseline'), 'baseline');
        return [id, k && b ? ratio(b, k) : null];
      }),
    ) as Record<(typeof ids)[number], number | null>;
    const durablePut = okRps(r('put', 'koor'));
    const goals = {
      get_ratio: { target: GET_RATIO_GOAL, value: ratios.get, met: ratios.get !== null && ratios.get >= GET_RATIO_GOAL },
      durable_put_per_s: { target: DURABLE_PUT_GOAL, value: durablePut, met: durablePut >= DURABLE_PUT_GOAL },
    };

    // What limits the figures: the generator shares the cores with the servers.
    const cores = r('get', 'koor').cpu.system?.cores ?? '?';
    notes.push(
      `autocannon runs single-threaded in the bench process, on the same ${cores} cores as the server under test. ` +
        "'cores' columns = CPU used during the measured run (1.00 = one core busy); 'other' = unrelated processes (kernel threads excluded).",
    );
    notes.push('srv us/req = server CPU per response, independent of which side saturated; cpu eff = baseline us/req / koor us/req (1.00 = koor costs no more CPU than bare uWS).');
    const saturated = ids.flatMap((id) => (['koor', 'baseline'] as const).filter((n) => r(id, n).cpu.loadgen.cores >= LOADGEN_SATURATED_CORES).map((n) => `${id} ${n}`));
    if (saturated.length > 0) {
      notes.push(`autocannon used >= ${LOADGEN_SATURATED_CORES} cores (saturated) in: ${saturated.join(', ')}; those req/s are bounded by the load generator, and a ratio between two such runs is pulled toward 1.`);
    }
    const kp = r('put', 'koor').cpu;
    if (kp.procs.koor) {
      const threads = kp.procs.koor.threads.map((t) => `${t.main ? 'main' : `thread ${t.tid}`} ${fmtCores(t.cores)} (sys ${fmtCores(t.sys_cores)})`).join(', ');
      const io = kp.pressure_pct ? `; I/O stall (PSI some/full) ${kp.pressure_pct.io_some ?? '-'}% / ${kp.pressure_pct.io_full ?? '-'}% of the run` : '';
      notes.push(`koor PUT: server ${fmtCores(kp.procs.koor.cores)} cores [${threads}]; kernel threads ${fmtCores(kp.others.kernel_cores)}; machine busy ${fmtCores(kp.system?.busy_cores)} of ${cores}${io}.`);
      const kio = kp.procs.koor.io;
      const okPuts = r('put', 'koor').ok_responses;
      if (kio && okPuts > 0) {
        notes.push(
          `koor PUT I/O: ${fmtInt(kio.wchar / okPuts)} bytes written (WAL + checkpoints) in ${(kio.syscw / okPuts).toFixed(1)} write calls per ${DOC_BYTES}-byte PUT; ` +
            `${fmtInt(kio.write_bytes / okPuts)} bytes/PUT reached the block device (${fmtInt(kio.write_bytes / 1e6 / r('put', 'koor').duration_s)} MB/s).`,
        );
      }
    }
    notes.push('baseline PUT keeps the body in a Map (memory, not durable): the PUT ratio is durable SQLite vs memory, not a goal.');

    opts.log('PUT with state-history retention active vs off (separate servers)');
    const retention = await retentionPut(opts, doc, durationS, failures);
    opts.log('cost of operations: webhooks, identified agents (separate servers)');
    const operations = await operationsCost(opts, doc, durationS, warmupS, failures);
    notes.push(...operations.notes);

    const titles = Object.fromEntries(scenarios(doc).map((x) => [x.id, x.title]));
    const tables: BenchTable[] = [
      {
        title: `HTTP: koor-server vs bare uWS, ${CONNECTIONS} connections, pipelining ${PIPELINING}, ${durationS}s per run after ${warmupS}s warm-up${opts.quick ? ' (quick)' : ''}`,
        columns: ['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'koor/base', 'errors', 'non-ok', 'srv cores', 'srv us/req', 'cpu eff', 'loadgen cores', 'other cores'],
        rows: ids.flatMap((id) =>
          (['koor', 'baseline'] as const).map((n) => {
            const x = r(id, n);
            return [
              n === 'koor' ? titles[id]! : '',
              n === 'koor' ? 'koor' : 'bare uWS',
              fmtInt(okRps(x)),
              fmtMs(x.latency_ms.p50),
              fmtMs(x.latency_ms.p99),
              n === 'koor' ? fmtRatio(ratios[id]) : '',
              x.errors,
              x.unexpected,
              fmtCores(x.cpu.procs[n]?.cores),
              cpuPerReq(x, n) ?? '-',
              n === 'koor' ? fmtRatio(cpuEfficiency[id]) : '',
              fmtCores(x.cpu.loadgen.cores),
              fmtCores(x.cpu.others.cores),
            ];
          }),
        ),
      },
      {
        title: 'Goals',
        columns: ['goal', 'target', 'measured', 'met'],
        rows: [
          ['GET koor/baseline req/s', `>= ${GET_RATIO_GOAL}x`, fmtRatio(ratios.get), goals.get_ratio.met ? 'yes' : 'NO'],
          ['durable PUT/s (koor)', `>= ${fmtInt(DURABLE_PUT_GOAL)}`, fmtInt(durablePut), goals.durable_put_per_s.met ? 'yes' : 'NO'],
        ],
      },
      retention.table,
      operations.table,
    ];

    return {
      suite: 'http',
      ok: failures.length === 0,
      config: {
        connections: CONNECTIONS,
        pipelining: PIPELINING,
        duration_s: durationS,
        warmup_s: warmupS,
        doc_bytes: DOC_BYTES,
        put_keys: PUT_KEYS,
        load_generator: 'autocannon, single-threaded, in the bench process (shares the cores with the servers)',
      },
      servers: { koor: { pid: koorProc.pid, data_dir: koorProc.dataDir }, baseline: { pid: baseProc.pid } },
      ratios,
      cpu_efficiency: cpuEfficiency,
      server_cpu_us_per_req: Object.fromEntries(ids.map((id) => [id, { koor: cpuPerReq(r(id, 'koor'), 'koor'), baseline: cpuPerReq(r(id, 'baseline'), 'baseline') }])),
      goals,
      put_check: putCheck,
      retention: retention.results,
      operations: operations.results,
      scenarios: results,
      notes,
      warnings: [...failures, ...noise],
      failures,
      tables,
    };
  } catch (e) {
    opts.log(`koor-server output (tail):\n${koorProc.output().slice(-4000)}`);
    opts.log(`baseline output (tail):\n${baseProc.output().slice(-2000)}`);
    throw e;
  } finally {
    await Promise.all([koorProc.stop(), baseProc.stop()]);
  }
}
