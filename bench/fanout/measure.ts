/**
 * One measured run of the events suite: the fleet's subscriptions opened, publishes driven by
 * autocannon (50 connections) against one server, deliveries counted by the subscriber processes,
 * the server's RSS and metrics polled, every process's CPU recorded; and the fate of a stalled
 * subscriber. Also the cross-check that raw and ws clients receive the same frames.
 */
import fs from 'node:fs';
import { sleep } from '../lib/async.js';
import type { CpuReport } from '../lib/cpu.js';
import { fmtCores, fmtInt, fmtMs } from '../lib/format.js';
import { runLoad, type LoadResult } from '../lib/load.js';
import { drain, metrics, rowsOf, waitSubscribers, type Fleet, type ServerMetrics, type Target, type TargetName } from './fleet.js';

/** Publishing connections, as the suite drives every server. */
export const CONNECTIONS = 50;
/** Other processes using more than this (cores) during a measured run: rerun it once. */
const CONTAMINATED_CORES = 0.25;
/** The topic every publish goes to (koor's subscribers match it with bench.*). */
const TOPIC = 'bench.fanout';

/** A typical agent event, ~170 bytes of data: the frame is ~270 bytes. BODY is what each publish sends. */
const DATA = {
  agent: 'claude-frontend-7',
  kind: 'file.changed',
  files: ['web/src/panels/State.tsx', 'web/src/api/client.ts'],
  summary: 'Dashboard state panel now polls with If-None-Match',
};
export const BODY = JSON.stringify({ topic: TOPIC, data: DATA });
/** Frame length with a 6-digit id (sizes the baseline's slow-socket budget like koor's). */
export const FRAME_BYTES = `{"id":123456,"topic":"${TOPIC}","data":${JSON.stringify(DATA)},"source":"","created_at":"2026-01-01T00:00:00Z"}`.length;

/** VmRSS of a process, MiB (null where /proc is unreadable). */
export function rssMiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

/** irq+softirq and steal seconds of the whole machine (/proc/stat): loopback TCP work runs in softirq. */
function irqStat(): { irq: number; steal: number; t: number } | null {
  try {
    const v = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // USER_HZ is 100 on Linux x86-64 (what bench/lib/cpu.ts reads with getconf too).
    return { irq: ((v[5] ?? 0) + (v[6] ?? 0)) / 100, steal: (v[7] ?? 0) / 100, t: performance.now() / 1000 };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// One measured run

export interface Poll {
  peakRssMiB: number | null;
  peakQueuedBytes: number | null;
  /** ms after the load started at which closed_slow / closed first grew, if it did. */
  firstCloseMs: number | null;
  samples: number;
}

/** Samples the server's RSS and metrics every 100 ms while a run lasts. */
function startPoll(t: Target, base: ServerMetrics): { stop: () => Promise<Poll> } {
  const p: Poll = { peakRssMiB: rssMiB(t.proc.pid), peakQueuedBytes: null, firstCloseMs: null, samples: 0 };
  const t0 = Date.now();
  const closedOf = (m: ServerMetrics) => m.events.closed_slow ?? m.events.closed ?? 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      await sleep(100);
      const rss = rssMiB(t.proc.pid);
      if (rss !== null && (p.peakRssMiB === null || rss > p.peakRssMiB)) p.peakRssMiB = rss;
      try {
        const m = await metrics(t);
        p.samples++;
        const q = m.events.queued_bytes;
        if (q !== undefined && (p.peakQueuedBytes === null || q > p.peakQueuedBytes)) p.peakQueuedBytes = q;
        if (p.firstCloseMs === null && closedOf(m) > closedOf(base)) p.firstCloseMs = Date.now() - t0;
      } catch {
        /* a slow metrics reply under load is not a failure of the run */
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return p;
    },
  };
}

export interface RunResult {
  target: TargetName;
  scenario: string;
  subscribers: number;
  stalled: number;
  overflow: 'close' | 'drop';
  publishes_per_s: number;
  publishes_ok: number;
  /** Frames received by all subscribers per second during the load. */
  deliveries_per_s: number;
  /** Same, per reading (non-stalled) subscriber. */
  deliveries_per_s_per_sub: number | null;
  /** Frames per reading subscriber in the window, min and max (fairness). */
  per_sub_frames: { min: number; max: number } | null;
  latency_ms: LoadResult['latency_ms'];
  statuses: Record<string, number>;
  errors: number;
  unexpected: number;
  duration_s: number;
  /** After the load: ms until every reading subscriber had the last event (tail of the fan-out). */
  drain_ms: number;
  caught_up: boolean;
  /** Reading subscribers: events published while they were attached but never received. */
  missing: number;
  gaps: number;
  dups: number;
  bad_frames: number;
  /** Reading subscribers the server closed (close code → count). */
  unexpected_closes: Record<string, number>;
  /** Server CPU per delivery, µs (whole process); per publish with no subscribers. */
  server_us_per_delivery: number | null;
  server_us_per_publish: number | null;
  server_delivered_metric: number | null;
  rss_mib: { before: number | null; peak: number | null; after: number | null };
  peak_queued_bytes: number | null;
  first_close_ms: number | null;
  stalled_fate?: StalledFate;
  cpu: CpuReport;
  /** Machine-wide irq+softirq time (not charged to any process: loopback TCP receive work), cores. */
  irq_cores: number | null;
  steal_cores: number | null;
  attempts: number;
  warmup: { responses: number; errors: number; unexpected: number } | null;
}

export interface StalledFate {
  /** 'closed <code>' or 'open'. */
  outcome: string;
  close_code: number | null;
  close_reason: string;
  /** Frames it had been sent before the close (read after resuming), first and last ids. */
  frames: number;
  first_id: number;
  last_id: number;
  gaps: number;
  /** Events published while it was attached (from its attach to the end of the run). */
  published_while_attached: number;
  /** ms after the load started when the server's closed counter grew (100 ms polling). */
  closed_after_ms: number | null;
  server_dropped: number | null;
  /** Slow-subscriber closes the server counted meanwhile (koor closed_slow; baseline: closes). */
  server_closed_slow: number;
  /** How long the closed subscription stayed unread after the server closed it. */
  resumed_after_close_ms: number | null;
}

export interface RunSpec {
  target: Target;
  scenario: string;
  n: number;
  stalled?: number;
  overflow?: 'drop';
  warmupS: number;
  durationS: number;
  /** Rerun the measured part once when other processes used the cores (not for stall runs). */
  retry: boolean;
}

export async function measure(fleet: Fleet, spec: RunSpec, log: (m: string) => void, failures: string[], noise: string[]): Promise<RunResult> {
  const t = spec.target;
  const label = `${spec.scenario} ${t.name}`;
  const stalled = spec.stalled ?? 0;
  await fleet.close();
  const left = await waitSubscribers(t, 0);
  if (left !== 0) failures.push(`${label}: ${left} subscribers still attached before opening new ones`);
  if (spec.n > 0) {
    const o = await fleet.open(t.wsUrl(spec.overflow), spec.n, { stalled });
    if (o.failed > 0) failures.push(`${label}: ${o.failed} of ${spec.n} subscriptions failed to open: ${o.errors.join('; ')}`);
    const attached = await waitSubscribers(t, o.opened);
    if (attached !== o.opened) failures.push(`${label}: server reports ${attached} subscribers, ${o.opened} opened`);
    log(`${label}: ${o.opened} subscribers open in ${o.ms} ms${stalled ? ` (${stalled} stalled${spec.overflow ? `, overflow=${spec.overflow}` : ''})` : ''}`);
  }
  const load = { url: `${t.proc.url}/api/events/publish`, method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: BODY, connections: CONNECTIONS, pipelining: 1, timeoutS: 5, okStatuses: [200] };
  const checked = (what: string, x: LoadResult): LoadResult => {
    if (x.errors > 0 || x.unexpected > 0) failures.push(`${label} ${what}: ${x.errors} connection errors (${x.timeouts} timeouts), ${x.unexpected} unexpected statuses ${JSON.stringify(x.statuses)}`);
    if (x.responses === 0) failures.push(`${label} ${what}: no responses`);
    return x;
  };
  let warmup: RunResult['warmup'] = null;
  if (spec.warmupS > 0) {
    const w = checked('warm-up', await runLoad({ ...load, durationS: spec.warmupS }));
    warmup = { responses: w.responses, errors: w.errors, unexpected: w.unexpected };
    const m = await metrics(t);
    if (spec.n > 0) await drain(fleet, m.last_event_id, 10_000);
  }
  const pids = { server: t.proc.pid, ...fleet.pids() };

  let attempts = 0;
  for (;;) {
    attempts++;
    const m0 = await metrics(t);
    const rssBefore = rssMiB(t.proc.pid);
    const s0 = await fleet.snap();
    const poll = startPoll(t, m0);
    const loadStartedAt = Date.now();
    log(`${label}: measuring ${spec.durationS}s${attempts > 1 ? ' (again)' : ''}`);
    const irq0 = irqStat();
    const r = checked('measured run', await runLoad({ ...load, durationS: spec.durationS, pids }));
    const irq1 = irqStat();
    const s1 = await fleet.snap();
    const m1 = await metrics(t);
    const p = await poll.stop();
    const d = spec.n > 0 ? await drain(fleet, m1.last_event_id, spec.n >= 1000 ? 15_000 : 8000) : { snap: s1, ms: 0, caughtUp: true };
    const m2 = await metrics(t);
    const rssAfter = rssMiB(t.proc.pid);

    // Deliveries in the load window, each process over its own clock.
    let deliveriesPerS = 0;
    s0.procs.forEach((a, i) => {
      const b = s1.procs[i]!;
      const dt = (b.at - a.at) / 1000;
      if (dt > 0) deliveriesPerS += (b.frames - a.frames) / dt;
    });
    const r0 = rowsOf(s0);
    const r1 = rowsOf(s1);
    const r2 = rowsOf(d.snap);
    const reading = r2.filter((x) => !x.stalled);
    const windowS = r.duration_s;
    const stalledFrames = r1.filter((x) => x.stalled).reduce((a, x) => a + x.row[0] - (r0.find((y) => y.proc === x.proc && y.idx === x.idx)?.row[0] ?? 0), 0);
    const readingCount = reading.length;
    const perSub = reading.map((x) => {
      const a = r0.find((y) => y.proc === x.proc && y.idx === x.idx)!;
      const b = r1.find((y) => y.proc === x.proc && y.idx === x.idx)!;
      return b.row[0] - a.row[0];
    });
    let missing = 0;
    let gaps = 0;
    let dups = 0;
    const unexpectedCloses: Record<string, number> = {};
    for (const x of reading) {
      const a = r0.find((y) => y.proc === x.proc && y.idx === x.idx)!;
      const [frames, , , , g, du, state, code] = x.row;
      gaps += g - a.row[4];
      dups += du - a.row[5];
      // Events after what it had at the start (or, if it had nothing yet, after the server's last id then).
      const from = a.row[3] > 0 ? a.row[3] : m0.last_event_id;
      if (state === 'closed') unexpectedCloses[code] = (unexpectedCloses[code] ?? 0) + 1;
      else missing += m2.last_event_id - from - (frames - a.row[0]);
    }
    const badFrames = s1.procs.reduce((a, sp) => a + Object.values(sp.details).reduce((b, dd) => b + dd.badFrames, 0), 0);
    const srv = r.cpu.procs.server;
    const deliveredInWindow = perSub.reduce((a, b) => a + b, 0) + stalledFrames;
    const res: RunResult = {
      target: t.name,
      scenario: spec.scenario,
      subscribers: spec.n,
      stalled,
      overflow: spec.overflow ?? 'close',
      publishes_per_s: Math.round(r.ok_responses / r.duration_s),
      publishes_ok: r.ok_responses,
      deliveries_per_s: Math.round(deliveriesPerS),
      deliveries_per_s_per_sub: readingCount > 0 ? Math.round(perSub.reduce((a, b) => a + b, 0) / readingCount / windowS) : null,
      per_sub_frames: perSub.length ? { min: Math.min(...perSub), max: Math.max(...perSub) } : null,
      latency_ms: r.latency_ms,
      statuses: r.statuses,
      errors: r.errors,
      unexpected: r.unexpected,
      duration_s: r.duration_s,
      drain_ms: d.ms,
      caught_up: d.caughtUp,
      missing,
      gaps,
      dups,
      bad_frames: badFrames,
      unexpected_closes: unexpectedCloses,
      server_us_per_delivery: srv && deliveredInWindow > 0 ? Math.round((srv.cpu_s / deliveredInWindow) * 1e7) / 10 : null,
      server_us_per_publish: srv && r.ok_responses > 0 ? Math.round((srv.cpu_s / r.ok_responses) * 1e7) / 10 : null,
      server_delivered_metric: m1.events.delivered !== undefined && m0.events.delivered !== undefined ? m1.events.delivered - m0.events.delivered : null,
      rss_mib: { before: rssBefore, peak: p.peakRssMiB, after: rssAfter },
      peak_queued_bytes: p.peakQueuedBytes,
      first_close_ms: p.firstCloseMs,
      cpu: r.cpu,
      irq_cores: irq0 && irq1 ? Math.round(((irq1.irq - irq0.irq) / (irq1.t - irq0.t)) * 1000) / 1000 : null,
      steal_cores: irq0 && irq1 ? Math.round(((irq1.steal - irq0.steal) / (irq1.t - irq0.t)) * 1000) / 1000 : null,
      attempts,
      warmup,
    };
    if (m1.last_event_id - m0.last_event_id < r.ok_responses) failures.push(`${label}: ${r.ok_responses} publishes acknowledged but the event id advanced only ${m1.last_event_id - m0.last_event_id}`);
    if (missing > 0 || gaps > 0 || dups > 0 || badFrames > 0) failures.push(`${label}: reading subscribers missed ${missing} events (${gaps} gaps, ${dups} duplicates, ${badFrames} bad frames)`);
    if (!d.caughtUp) failures.push(`${label}: reading subscribers had not caught up ${d.ms} ms after the load stopped`);
    const nClosed = Object.values(unexpectedCloses).reduce((a, b) => a + b, 0);
    if (nClosed > 0) failures.push(`${label}: the server closed ${nClosed} reading subscribers ${JSON.stringify(unexpectedCloses)}`);

    if (stalled > 0) {
      const fate = await stalledFate(t, fleet, m0, m2, p, loadStartedAt);
      res.stalled_fate = fate;
    }
    const top = r.cpu.others.top.filter((o) => !o.kernel).slice(0, 3).map((o) => `${o.comm}[${o.pid}] ${fmtCores(o.cores)}`).join(', ');
    log(
      `${label}: ${fmtInt(res.publishes_per_s)} publishes/s, ${fmtInt(res.deliveries_per_s)} deliveries/s, p50 ${fmtMs(r.latency_ms.p50)} ms; cores server ${fmtCores(srv?.cores)}, ` +
        `subs ${fmtCores(subCores(r.cpu))}, loadgen ${fmtCores(r.cpu.loadgen.cores)}, other ${fmtCores(r.cpu.others.cores)}${top ? ` (${top})` : ''}`,
    );
    const foreign = r.cpu.others.cores + (unaccounted(res) ?? 0);
    if (foreign > CONTAMINATED_CORES && spec.retry && attempts < 2 && stalled === 0) continue;
    if (foreign > CONTAMINATED_CORES) {
      noise.push(`${label}: other processes used ${fmtCores(r.cpu.others.cores)} cores (${top || 'none alive throughout'}) + ${fmtCores(unaccounted(res))} unaccounted (short-lived processes) during the measured run`);
    }
    return res;
  }
}

/** Resumes the stalled subscription and reports what it had received and how it ended. */
async function stalledFate(t: Target, fleet: Fleet, m0: ServerMetrics, m2: ServerMetrics, p: Poll, loadStartedAt: number): Promise<StalledFate> {
  const resumedAt = Date.now();
  const snap = await fleet.resume();
  const st = rowsOf(snap).find((x) => x.stalled);
  const detail = st ? snap.procs[st.proc]!.details[st.idx] : undefined;
  const m3 = await metrics(t);
  if (!st || !detail) return { outcome: 'unknown', close_code: null, close_reason: '', frames: 0, first_id: 0, last_id: 0, gaps: 0, published_while_attached: 0, closed_after_ms: p.firstCloseMs, server_dropped: null, server_closed_slow: 0, resumed_after_close_ms: null };
  const [frames, , firstId, lastId, gaps, , state, code] = st.row;
  return {
    outcome: state === 'closed' ? `closed ${code}` : 'open',
    close_code: state === 'closed' ? code : null,
    close_reason: detail.closeReason,
    frames,
    first_id: firstId,
    last_id: lastId,
    gaps,
    published_while_attached: m2.last_event_id - m0.last_event_id,
    closed_after_ms: p.firstCloseMs,
    server_dropped: m3.events.dropped !== undefined && m0.events.dropped !== undefined ? m3.events.dropped - m0.events.dropped : null,
    server_closed_slow: (m3.events.closed_slow ?? m3.events.closed ?? 0) - (m0.events.closed_slow ?? m0.events.closed ?? 0),
    resumed_after_close_ms: p.firstCloseMs !== null ? resumedAt - loadStartedAt - p.firstCloseMs : null,
  };
}

/**
 * Machine busy time no process alive at both ends of the window accounts for: mostly processes
 * that started and exited inside it (other people's test runs), which bench/lib/cpu.ts's cpuWindow cannot see.
 */
export function unaccounted(r: RunResult): number | null {
  const c = r.cpu;
  if (!c.system) return null;
  const seen = Object.values(c.procs).reduce((a, p) => a + p.cores, 0) + c.loadgen.cores + c.others.cores + c.others.kernel_cores + (r.irq_cores ?? 0);
  return Math.max(0, Math.round((c.system.busy_cores - seen) * 100) / 100);
}

export const subCores = (c: CpuReport): number => Object.entries(c.procs).filter(([k]) => k.startsWith('sub')).reduce((a, [, v]) => a + v.cores, 0);

/** Cross-check: raw and ws clients receive the same frames from both servers. */
export async function crossCheck(fleet: Fleet, t: Target, failures: string[]): Promise<{ events: number; frame_bytes: number; clients: string[] }> {
  const N_EVENTS = 300;
  await fleet.close();
  await waitSubscribers(t, 0);
  const raw = await fleet.open(t.wsUrl(), 2, { extra: { client: 'raw', verify: true } });
  // Spread 1 + 1 over the first two processes, like the ws ones.
  const ws = await fleet.open(t.wsUrl(), 2, { extra: { client: 'ws', verify: true } });
  if (raw.failed + ws.failed > 0) failures.push(`cross-check ${t.name}: subscriptions failed: ${[...raw.errors, ...ws.errors].join('; ')}`);
  await waitSubscribers(t, 4);
  const m0 = await metrics(t);
  let next = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < N_EVENTS) {
        next++;
        const r = await fetch(`${t.proc.url}/api/events/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY, signal: AbortSignal.timeout(5000) });
        await r.text();
        if (r.status !== 200) failures.push(`cross-check ${t.name}: publish → ${r.status}`);
      }
    }),
  );
  const m1 = await metrics(t);
  const d = await drain(fleet, m1.last_event_id, 5000);
  const rows = rowsOf(d.snap);
  const details = rows.map((x) => d.snap.procs[x.proc]!.details[x.idx]);
  const hashes = new Set(details.map((x) => x?.hash));
  const frames = rows.map((x) => x.row[0]);
  const bytes = rows.map((x) => x.row[1]);
  const clients = details.map((x) => x?.client ?? '?');
  const published = m1.last_event_id - m0.last_event_id;
  if (rows.length !== 4 || frames.some((f) => f !== published) || hashes.size !== 1 || new Set(bytes).size !== 1 || rows.some((x) => x.row[4] + x.row[5] > 0)) {
    failures.push(`cross-check ${t.name}: raw/ws subscribers disagree: frames ${frames} (published ${published}), bytes ${bytes}, ${hashes.size} distinct payload hashes, clients ${clients}`);
  }
  await fleet.close();
  return { events: published, frame_bytes: frames[0] ? Math.round(bytes[0]! / frames[0]) : 0, clients };
}
