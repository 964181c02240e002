/**
 * Event-bus benchmark: koor-server against a bare-uWS `app.publish` baseline of the same frames
 * (bench/baselines/uws-fanout.ts), both separate processes, in one run:
 *
 *   publish     durable REST publishes/s, 50 connections, no subscribers
 *               (koor: SQLite commit, its WAL synced, before the 200; baseline: memory)
 *   fanout N    the same drive with N = 10, 100, 1000 WebSocket subscribers living in
 *               SUB_PROCS separate subscriber processes (bench/fanout/subscriber.ts);
 *               deliveries/s = frames received by all subscribers / time
 *   stall       100 subscribers of which 1 stops reading (its socket is paused): the others'
 *               delivery rate as a ratio of the no-stall run, what happened to the stalled one
 *               (4008 close? after how many events? how fast?), server RSS before/peak/after.
 *               Full runs add overflow=drop and the baseline's own slow-socket handling.
 *
 * Drive: autocannon (in this process) at 50 connections, pipelining 1, identical for both
 * servers; a warm-up that is not counted. CPU of every process is recorded (bench/lib/cpu.ts's cpuWindow).
 * Goals: fan-out >= 0.8x the baseline; others >= 0.95x with a stalled subscriber; durable
 * publishes >= 35,000/s.
 *
 *   npm run bench -- events [--quick]
 */
import { withTimeout } from '../lib/async.js';
import { fmtCores, fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { spawnBenchScript, spawnKoor, type ServerProc } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { Fleet, type Target, type TargetName } from '../fanout/fleet.js';
import { BODY, CONNECTIONS, FRAME_BYTES, crossCheck, measure, rssMiB, subCores, unaccounted, type RunResult, type RunSpec } from '../fanout/measure.js';

const SUB_PROCS = 4;
const FANOUT_NS = [10, 100, 1000] as const;
const STALL_N = 100;
const PATTERN = 'bench.*';
const FANOUT_RATIO_GOAL = 0.8;
const STALL_RATIO_GOAL = 0.95;
const DURABLE_PUBLISH_GOAL = 35_000;
/** Load-generator CPU above this (cores): autocannon may be the limit. */
const LOADGEN_SATURATED_CORES = 0.9;
/** koor's defaults (src/config.ts) and its uWS soft limit (src/shared/limits.ts, applied in src/ws/outlet.ts). */
const KOOR_BUFFER_EVENTS = 64;
const KOOR_SOFT_BUFFER_BYTES = 64 * 1024;
/** What a paused loopback socket absorbs before the server's own buffer starts to grow (measured ~3.8 MiB: tcp_wmem max 4 MiB). */
const KERNEL_BUFFER_GUESS_BYTES = 4.5 * 2 ** 20;

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const durationS = opts.quick ? 2 : 10;
  const warmupS = opts.quick ? 1 : 2;
  /**
   * A paused socket first fills the kernel buffers (loopback: up to ~4 MiB of send buffer on the
   * server side, tcp_wmem max) before uWS buffers anything, so the server only starts counting
   * against the subscriber's budget some seconds in: stall runs last long enough to get there.
   */
  const stallCapS = opts.quick ? 10 : 30;
  const stallS = (publishesPerS: number): number =>
    Math.min(stallCapS, Math.max(opts.quick ? 5 : 15, Math.ceil((1.5 * KERNEL_BUFFER_GUESS_BYTES) / Math.max(1, publishesPerS * FRAME_BYTES)) + 1));
  /** Quick runs never repeat a contaminated run (time bound); full runs do once. */
  const retry = !opts.quick;
  const failures: string[] = [];
  const noise: string[] = [];
  const notes: string[] = [];
  const baselineBackpressure = KOOR_SOFT_BUFFER_BYTES + KOOR_BUFFER_EVENTS * FRAME_BYTES;

  opts.log(`starting koor-server, the bare-uWS baseline and ${SUB_PROCS} subscriber processes`);
  const [koorProc, baseProc, fleet] = await Promise.all([
    spawnKoor(),
    spawnBenchScript('events-baseline', 'baselines/uws-fanout.js', ['--max-backpressure', String(baselineBackpressure)]),
    Fleet.start(SUB_PROCS),
  ]);
  try {
    const rssAtStart = { koor: rssMiB(koorProc.pid), baseline: rssMiB(baseProc.pid) };
    opts.log(`koor-server pid ${koorProc.pid} ${koorProc.url}; baseline pid ${baseProc.pid} ${baseProc.url}; subscribers ${fleet.procs.map((p) => p.pid).join(', ')}`);
    const wsBase = (p: ServerProc) => p.url.replace(/^http/, 'ws');
    const koor: Target = { name: 'koor', proc: koorProc, wsUrl: (o) => `${wsBase(koorProc)}/api/events/subscribe?pattern=${encodeURIComponent(PATTERN)}${o ? `&overflow=${o}` : ''}` };
    const base: Target = { name: 'baseline', proc: baseProc, wsUrl: () => `${wsBase(baseProc)}/api/events/subscribe` };
    const targets = [koor, base];

    const check = {
      koor: await withTimeout(crossCheck(fleet, koor, failures), 30_000, 'cross-check koor'),
      baseline: await withTimeout(crossCheck(fleet, base, failures), 30_000, 'cross-check baseline'),
    };
    if (Math.abs(check.koor.frame_bytes - check.baseline.frame_bytes) > 2) failures.push(`frame sizes differ: koor ${check.koor.frame_bytes} B, baseline ${check.baseline.frame_bytes} B`);
    opts.log(`cross-check: raw and ws clients agree; frame ${check.koor.frame_bytes} B (koor) / ${check.baseline.frame_bytes} B (baseline)`);

    const runs: RunResult[] = [];
    const go = async (spec: Omit<RunSpec, 'warmupS' | 'durationS' | 'retry'> & Partial<RunSpec>) => {
      const r = await measure(fleet, { warmupS, durationS, retry, ...spec }, opts.log, failures, noise);
      runs.push(r);
      return r;
    };

    for (const t of targets) await go({ target: t, scenario: 'publish', n: 0 });
    const noStall: RunResult[] = [];
    const stallRuns: RunResult[] = [];
    for (const n of FANOUT_NS) {
      const k = await go({ target: koor, scenario: `fanout ${n}`, n });
      if (n === STALL_N) {
        noStall.push(k);
        // Right after the no-stall run with the same subscriber count; no warm-up (the server is
        // warm, and a warm-up would already close the stalled subscriber).
        stallRuns.push(await go({ target: koor, scenario: `stall ${n}`, n, stalled: 1, warmupS: 0, durationS: stallS(k.publishes_per_s), retry: false }));
        if (!opts.quick) {
          stallRuns.push(await go({ target: koor, scenario: `stall ${n} drop`, n, stalled: 1, overflow: 'drop', warmupS: 0, durationS: stallS(k.publishes_per_s), retry: false }));
          noStall.push(await go({ target: koor, scenario: `fanout ${n} again`, n }));
        }
      }
      const b = await go({ target: base, scenario: `fanout ${n}`, n });
      if (n === STALL_N && !opts.quick) {
        stallRuns.push(await go({ target: base, scenario: `stall ${n}`, n, stalled: 1, warmupS: 0, durationS: stallS(b.publishes_per_s), retry: false }));
        noStall.push(b);
      }
    }
    await fleet.close();

    // --- Figures
    const find = (target: TargetName, scenario: string) => runs.find((r) => r.target === target && r.scenario === scenario);
    const okPub = (r: RunResult | undefined) => r?.publishes_per_s ?? 0;
    const fanoutRatios = Object.fromEntries(FANOUT_NS.map((n) => [n, ratio(find('koor', `fanout ${n}`)?.deliveries_per_s ?? 0, find('baseline', `fanout ${n}`)?.deliveries_per_s ?? 0)]));
    const cpuEff = Object.fromEntries(
      FANOUT_NS.map((n) => {
        const k = find('koor', `fanout ${n}`)?.server_us_per_delivery;
        const b = find('baseline', `fanout ${n}`)?.server_us_per_delivery;
        return [n, k && b ? ratio(b, k) : null];
      }),
    );
    const perSubRef = (target: TargetName) => {
      const xs = noStall.filter((r) => r.target === target).map((r) => r.deliveries_per_s_per_sub ?? 0);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
    };
    /** Server CPU per delivery in the no-stall runs: a stall ratio that other processes' CPU use does not move. */
    const usRef = (target: TargetName) => {
      const xs = noStall.filter((r) => r.target === target).map((r) => r.server_us_per_delivery ?? 0);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
    };
    const stallRatios = stallRuns.map((r) => ({
      scenario: r.scenario,
      target: r.target,
      ratio: ratio(r.deliveries_per_s_per_sub ?? 0, perSubRef(r.target)),
      /** no-stall server us/delivery ÷ this run's (1.00 = a stalled subscriber costs nothing extra per delivery). */
      cpu_ratio: r.server_us_per_delivery ? ratio(usRef(r.target), r.server_us_per_delivery) : null,
    }));
    const koorStall = stallRuns.find((r) => r.target === 'koor' && r.overflow === 'close');
    const stallRatio = stallRatios.find((s) => s.target === 'koor' && s.scenario === `stall ${STALL_N}`)?.ratio ?? null;
    const stallCpuRatio = stallRatios.find((s) => s.target === 'koor' && s.scenario === `stall ${STALL_N}`)?.cpu_ratio ?? null;
    const minFanout = Math.min(...FANOUT_NS.map((n) => fanoutRatios[n] ?? 0));
    const durable = okPub(find('koor', 'publish'));
    const goals = {
      fanout_ratio: { target: FANOUT_RATIO_GOAL, value: fanoutRatios, min: minFanout, met: minFanout >= FANOUT_RATIO_GOAL },
      stall_ratio: { target: STALL_RATIO_GOAL, value: stallRatio, cpu_ratio: stallCpuRatio, met: stallRatio !== null && stallRatio >= STALL_RATIO_GOAL },
      durable_publishes_per_s: { target: DURABLE_PUBLISH_GOAL, value: durable, met: durable >= DURABLE_PUBLISH_GOAL },
    };
    const kf = koorStall?.stalled_fate;
    if (kf && kf.close_code !== 4008) {
      if (kf.server_closed_slow > 0 && kf.close_code === 1006) {
        notes.push(
          `stalled koor subscriber: the server closed it as slow (closed_slow +${kf.server_closed_slow}), but the client read no close frame: ` +
            `it resumed ${fmtInt(kf.resumed_after_close_ms)} ms after the close, and uWS had already dropped the socket with the 4008 frame still in its own buffer (only what the kernel held arrived).`,
        );
      } else if (kf.outcome === 'open' && kf.frames >= kf.published_while_attached) {
        // Every event still fit in the kernel socket buffers: the run was too short to reach the server's budget.
        noise.push(`stalled koor subscriber: all ${fmtInt(kf.frames)} events of the run fit in the kernel socket buffers; the server's budget was never reached (publish rate too low for the run length)`);
      } else {
        failures.push(`stalled koor subscriber was not closed with 4008: ${kf.outcome}, ${fmtInt(kf.frames)} of ${fmtInt(kf.published_while_attached)} events delivered`);
      }
    }

    // --- Notes: what limits the figures
    const cores = runs[0]?.cpu.system?.cores ?? '?';
    notes.push(
      `All processes share ${cores} cores: autocannon (this process, single-threaded), the server, ${SUB_PROCS} subscriber processes (raw RFC 6455 frame counters; ` +
        "cross-checked against the ws package). 'cores' = CPU used during the measured run (1.00 = one core busy).",
    );
    notes.push('srv us/dlv = server CPU per delivered frame (whole process, publish handling included); cpu eff = baseline us/dlv / koor us/dlv (1.00 = koor spends no more CPU per delivery than bare uWS).');
    notes.push("publish row: koor commits every event to SQLite (the WAL synced at each commit) before its 200; the baseline keeps nothing, so that koor/base is durable vs memory, not a goal.");
    notes.push(`Baseline slow-socket budget: uWS maxBackpressure ${fmtInt(baselineBackpressure)} B with closeOnBackpressureLimit (≈ koor's ${KOOR_SOFT_BUFFER_BYTES / 1024} KiB uWS soft limit + ${KOOR_BUFFER_EVENTS} queued events).`);
    for (const r of stallRuns) {
      const f = r.stalled_fate;
      if (!f) continue;
      notes.push(
        `stalled ${r.target}${r.target === 'koor' ? ` (overflow=${r.overflow})` : ''}: ${f.outcome}${f.close_reason ? ` "${f.close_reason}"` : ''}` +
          `${f.closed_after_ms !== null ? `, ${fmtInt(f.closed_after_ms)} ms into the load (read again ${fmtInt(f.resumed_after_close_ms)} ms after that)` : ''}; it had been sent ${fmtInt(f.frames)} events (ids ${f.first_id}..${f.last_id}, ${f.gaps} gaps; ` +
          `${(f.frames * check.koor.frame_bytes / 2 ** 20).toFixed(1)} MiB, nearly all held by kernel socket buffers) of ${fmtInt(f.published_while_attached)} published during the run` +
          `${f.server_dropped !== null && f.server_dropped > 0 ? `; server dropped ${fmtInt(f.server_dropped)} for it` : ''}.`,
      );
    }
    notes.push(
      "Slow subscriber 'ratio' compares delivery rates, which move with whatever else the 2 cores are doing; 'cpu ratio' = server CPU per delivery without a stall ÷ with one (1.00 = the stalled subscriber adds no cost per delivery).",
    );
    notes.push(`RSS at start: koor ${rssAtStart.koor ?? '-'} MiB, baseline ${rssAtStart.baseline ?? '-'} MiB.`);
    const sat = runs.filter((r) => r.cpu.loadgen.cores >= LOADGEN_SATURATED_CORES).map((r) => `${r.scenario} ${r.target}`);
    if (sat.length) notes.push(`autocannon used >= ${LOADGEN_SATURATED_CORES} cores in: ${sat.join(', ')} (publish rate there may be bounded by the load generator).`);
    const busy = runs.filter((r) => (r.cpu.system?.busy_cores ?? 0) >= (r.cpu.system?.cores ?? 2) * 0.9).map((r) => `${r.scenario} ${r.target}`);
    if (busy.length) notes.push(`machine >= 90% busy (all cores saturated, figures bounded by total CPU) in: ${busy.join(', ')}.`);

    const tables: BenchTable[] = [
      {
        title: `Events: koor-server vs bare uWS app.publish, ${CONNECTIONS} publishing connections, ${durationS}s per run after ${warmupS}s warm-up${opts.quick ? ' (quick)' : ''}; frame ${check.koor.frame_bytes} B`,
        columns: ['scenario', 'server', 'publishes/s', 'deliveries/s', 'koor/base', 'p50 ms', 'p99 ms', 'missing', 'srv cores', 'srv us/dlv', 'cpu eff', 'subs cores', 'loadgen', 'busy', 'other'],
        rows: runs
          .filter((r) => r.stalled === 0 && !r.scenario.endsWith('again'))
          .map((r) => {
            const n = r.subscribers as (typeof FANOUT_NS)[number];
            return [
              r.target === 'koor' ? (r.subscribers === 0 ? 'publish, 0 subs' : `fan-out ${r.subscribers} subs`) : '',
              r.target === 'koor' ? 'koor' : 'bare uWS',
              fmtInt(r.publishes_per_s),
              r.subscribers ? fmtInt(r.deliveries_per_s) : '-',
              r.target === 'koor' ? (r.subscribers ? fmtRatio(fanoutRatios[n]) : fmtRatio(ratio(r.publishes_per_s, okPub(find('baseline', 'publish'))))) : '',
              fmtMs(r.latency_ms.p50),
              fmtMs(r.latency_ms.p99),
              r.missing + r.gaps + r.dups,
              fmtCores(r.cpu.procs.server?.cores),
              r.subscribers ? (r.server_us_per_delivery ?? '-') : (r.server_us_per_publish ?? '-'),
              r.target === 'koor' && r.subscribers ? fmtRatio(cpuEff[n]) : '',
              r.subscribers ? fmtCores(subCores(r.cpu)) : '-',
              fmtCores(r.cpu.loadgen.cores),
              fmtCores(r.cpu.system?.busy_cores),
              fmtCores(r.cpu.others.cores),
            ];
          }),
      },
      {
        title: `Slow subscriber: ${STALL_N} subscribers, 1 stops reading (socket paused from the upgrade on); 'ratio' = others' deliveries/s per subscriber vs the no-stall run`,
        columns: ['run', 'publishes/s', 'dlv/s per sub', 'ratio', 'srv us/dlv', 'cpu ratio', 'stalled one', 'frames it got', 'closed after', 'srv dropped', 'RSS before', 'peak', 'after MiB', 'peak queued B'],
        rows: [
          ...noStall.map((r) => [`${r.target} no stall (${r.scenario})`, fmtInt(r.publishes_per_s), fmtInt(r.deliveries_per_s_per_sub), '', r.server_us_per_delivery ?? '-', '', '', '', '', '', r.rss_mib.before ?? '-', r.rss_mib.peak ?? '-', r.rss_mib.after ?? '-', fmtInt(r.peak_queued_bytes)]),
          ...stallRuns.map((r) => {
            const f = r.stalled_fate;
            return [
              `${r.target} stalled, overflow=${r.target === 'koor' ? r.overflow : 'uWS limit'}`,
              fmtInt(r.publishes_per_s),
              fmtInt(r.deliveries_per_s_per_sub),
              fmtRatio(stallRatios.find((s) => s.scenario === r.scenario && s.target === r.target)?.ratio),
              r.server_us_per_delivery ?? '-',
              fmtRatio(stallRatios.find((s) => s.scenario === r.scenario && s.target === r.target)?.cpu_ratio),
              f ? (f.server_closed_slow > 0 && f.close_code !== 4008 && r.target === 'koor' ? `4008 sent, client saw ${f.close_code}` : f.outcome) : '-',
              f ? `${fmtInt(f.frames)} of ${fmtInt(f.published_while_attached)}` : '-',
              f?.closed_after_ms !== null && f?.closed_after_ms !== undefined ? `${fmtInt(f.closed_after_ms)} ms` : '-',
              f?.server_dropped ?? '-',
              r.rss_mib.before ?? '-',
              r.rss_mib.peak ?? '-',
              r.rss_mib.after ?? '-',
              fmtInt(r.peak_queued_bytes),
            ];
          }),
        ],
      },
      {
        title: 'CPU split during the measured runs (cores; 1.00 = one core busy)',
        columns: ['run', 'server', 'srv main', 'srv other thr', 'srv sys', 'sub0', 'sub1', 'sub2', 'sub3', 'loadgen', 'kernel thr', 'irq+softirq', 'other', 'unaccounted', 'machine busy', 'io psi %'],
        rows: runs.map((r) => {
          const s = r.cpu.procs.server;
          const main = s?.threads.find((x) => x.main)?.cores ?? 0;
          return [
            `${r.scenario} ${r.target}`,
            fmtCores(s?.cores),
            fmtCores(main),
            fmtCores(s ? s.cores - main : null),
            fmtCores(s?.sys_cores),
            ...[0, 1, 2, 3].map((i) => fmtCores(r.cpu.procs[`sub${i}`]?.cores)),
            fmtCores(r.cpu.loadgen.cores),
            fmtCores(r.cpu.others.kernel_cores),
            fmtCores(r.irq_cores),
            fmtCores(r.cpu.others.cores),
            fmtCores(unaccounted(r)),
            `${fmtCores(r.cpu.system?.busy_cores)}/${r.cpu.system?.cores ?? '?'}`,
            r.cpu.pressure_pct?.io_some ?? '-',
          ];
        }),
      },
      {
        title: 'Goals',
        columns: ['goal', 'target', 'measured', 'met'],
        rows: [
          ...FANOUT_NS.map((n) => [`fan-out ${n} subs koor/baseline deliveries/s`, `>= ${FANOUT_RATIO_GOAL}x`, fmtRatio(fanoutRatios[n]), (fanoutRatios[n] ?? 0) >= FANOUT_RATIO_GOAL ? 'yes' : 'NO']),
          ['others with 1 stalled / no stall (koor)', `>= ${STALL_RATIO_GOAL}x`, fmtRatio(stallRatio), goals.stall_ratio.met ? 'yes' : 'NO'],
          ['  same, as server CPU per delivery (info)', `>= ${STALL_RATIO_GOAL}x`, fmtRatio(stallCpuRatio), stallCpuRatio !== null && stallCpuRatio >= STALL_RATIO_GOAL ? 'yes' : 'NO'],
          ['durable publishes/s (koor)', `>= ${fmtInt(DURABLE_PUBLISH_GOAL)}`, fmtInt(durable), goals.durable_publishes_per_s.met ? 'yes' : 'NO'],
        ],
      },
    ];

    // Compact copies without per-thread detail for the JSON (the full CPU reports stay in runs).
    return {
      suite: 'events',
      ok: failures.length === 0,
      config: {
        connections: CONNECTIONS,
        duration_s: durationS,
        warmup_s: warmupS,
        subscriber_processes: SUB_PROCS,
        fanout: FANOUT_NS,
        stall_subscribers: STALL_N,
        body_bytes: BODY.length,
        frame_bytes: check.koor.frame_bytes,
        baseline_max_backpressure: baselineBackpressure,
        load_generator: 'autocannon, single-threaded, in the bench process (shares the cores with everything else)',
      },
      servers: { koor: { pid: koorProc.pid, data_dir: koorProc.dataDir }, baseline: { pid: baseProc.pid }, subscribers: fleet.procs.map((p) => p.pid) },
      cross_check: check,
      rss_mib_at_start: rssAtStart,
      rss_mib_at_end: { koor: rssMiB(koorProc.pid), baseline: rssMiB(baseProc.pid) },
      goals,
      fanout_ratios: fanoutRatios,
      cpu_efficiency: cpuEff,
      stall_ratios: stallRatios,
      runs,
      notes,
      warnings: [...failures, ...noise],
      failures,
      tables,
    };
  } catch (e) {
    opts.log(`koor-server output (tail):\n${koorProc.output().slice(-4000)}`);
    opts.log(`baseline output (tail):\n${baseProc.output().slice(-2000)}`);
    for (const p of fleet.procs) opts.log(`${p.name} output (tail):\n${p.output().slice(-1000)}`);
    throw e;
  } finally {
    await Promise.all([koorProc.stop(), baseProc.stop(), fleet.stop()]);
  }
}
