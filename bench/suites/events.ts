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
import fs from 'node:fs';
import { sleep, withTimeout } from '../lib/async.js';
import type { CpuReport } from '../lib/cpu.js';
import { fmtCores, fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { runLoad, type LoadResult } from '../lib/load.js';
import { spawnBenchScript, spawnKoor, type ServerProc } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import type { OpenReply, OpenRequest, Snapshot, SubRow } from '../fanout/protocol.js';

const CONNECTIONS = 50;
const SUB_PROCS = 4;
const FANOUT_NS = [10, 100, 1000] as const;
const STALL_N = 100;
const TOPIC = 'bench.fanout';
const PATTERN = 'bench.*';
const FANOUT_RATIO_GOAL = 0.8;
const STALL_RATIO_GOAL = 0.95;
const DURABLE_PUBLISH_GOAL = 35_000;
/** Other processes using more than this (cores) during a measured run: rerun it once. */
const CONTAMINATED_CORES = 0.25;
/** Load-generator CPU above this (cores): autocannon may be the limit. */
const LOADGEN_SATURATED_CORES = 0.9;
/** koor's defaults (src/config.ts) and its uWS soft limit (src/shared/limits.ts, applied in src/ws/outlet.ts). */
const KOOR_BUFFER_EVENTS = 64;
const KOOR_SOFT_BUFFER_BYTES = 64 * 1024;
/** What a paused loopback socket absorbs before the server's own buffer starts to grow (measured ~3.8 MiB: tcp_wmem max 4 MiB). */
const KERNEL_BUFFER_GUESS_BYTES = 4.5 * 2 ** 20;

/** A typical agent event, ~170 bytes of data: the frame is ~270 bytes. */
const DATA = {
  agent: 'claude-frontend-7',
  kind: 'file.changed',
  files: ['web/src/panels/State.tsx', 'web/src/api/client.ts'],
  summary: 'Dashboard state panel now polls with If-None-Match',
};
const BODY = JSON.stringify({ topic: TOPIC, data: DATA });
/** Frame length with a 6-digit id (sizes the baseline's slow-socket budget like koor's). */
const FRAME_BYTES = `{"id":123456,"topic":"${TOPIC}","data":${JSON.stringify(DATA)},"source":"","created_at":"2026-01-01T00:00:00Z"}`.length;

type TargetName = 'koor' | 'baseline';

interface Target {
  name: TargetName;
  proc: ServerProc;
  wsUrl: (overflow?: 'drop') => string;
}

interface ServerMetrics {
  last_event_id: number;
  events: { subscribers: number; delivered?: number; dropped?: number; closed_slow?: number; queued_bytes?: number; closed?: number; closed_codes?: Record<string, number> };
}

async function getJson<T>(url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<T> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${init.method ?? 'GET'} ${url} → ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

const metrics = (t: Target): Promise<ServerMetrics> => getJson<ServerMetrics>(`${t.proc.url}/api/metrics`);

/** VmRSS of a process, MiB (null where /proc is unreadable). */
function rssMiB(pid: number): number | null {
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
// Subscriber processes

interface FleetSnap {
  procs: Snapshot[];
}

class Fleet {
  constructor(readonly procs: ServerProc[]) {}

  static async start(n: number): Promise<Fleet> {
    const procs = await Promise.all(Array.from({ length: n }, (_, i) => spawnBenchScript(`subscriber-${i}`, 'fanout/subscriber.js')));
    return new Fleet(procs);
  }

  pids(): Record<string, number> {
    return Object.fromEntries(this.procs.map((p, i) => [`sub${i}`, p.pid]));
  }

  private call<T>(i: number, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
    return getJson<T>(`${this.procs[i]!.url}${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) }, timeoutMs);
  }

  /** Opens n subscriptions spread evenly; `stalled` of them (on the first process) stop reading. */
  async open(url: string, n: number, opts: { stalled?: number; extra?: Partial<OpenRequest> } = {}): Promise<{ opened: number; failed: number; errors: string[]; ms: number }> {
    const stalled = opts.stalled ?? 0;
    const normal = n - stalled;
    const per = this.procs.map((_, i) => Math.floor(normal / this.procs.length) + (i < normal % this.procs.length ? 1 : 0));
    const t0 = Date.now();
    const replies = await Promise.all(per.map((count, i) => (count > 0 ? this.call<OpenReply>(i, 'POST', '/open', { url, count, ...opts.extra }) : Promise.resolve({ opened: 0, failed: 0, errors: [], ms: 0 }))));
    if (stalled > 0) {
      // Opened last on the least-loaded process, so normal subscribers are indexes 0..k-1 there.
      const i = per.indexOf(Math.min(...per));
      replies.push(await this.call<OpenReply>(i, 'POST', '/open', { url, count: stalled, stall: true, ...opts.extra }));
    }
    return {
      opened: replies.reduce((a, r) => a + r.opened, 0),
      failed: replies.reduce((a, r) => a + r.failed, 0),
      errors: replies.flatMap((r) => r.errors).slice(0, 5),
      ms: Date.now() - t0,
    };
  }

  async snap(): Promise<FleetSnap> {
    return { procs: await Promise.all(this.procs.map((_, i) => this.call<Snapshot>(i, 'GET', '/snap'))) };
  }

  async resume(): Promise<FleetSnap> {
    return { procs: await Promise.all(this.procs.map((_, i) => this.call<Snapshot>(i, 'POST', '/resume', { quietMs: 500, timeoutMs: 10_000 }))) };
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((_, i) => this.call(i, 'POST', '/close')));
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop(3000)));
  }
}

type Row = { proc: number; idx: number; row: SubRow; stalled: boolean };

function rowsOf(s: FleetSnap): Row[] {
  return s.procs.flatMap((p, proc) => p.rows.map((row, idx) => ({ proc, idx, row, stalled: p.details[idx]?.stalled ?? false })));
}

/** Waits until every open, reading subscription has seen event `lastId` (bounded). */
async function drain(fleet: Fleet, lastId: number, timeoutMs: number): Promise<{ snap: FleetSnap; ms: number; caughtUp: boolean }> {
  const t0 = Date.now();
  for (;;) {
    const snap = await fleet.snap();
    const behind = rowsOf(snap).filter((r) => !r.stalled && r.row[6] === 'open' && r.row[3] < lastId);
    if (behind.length === 0 || Date.now() - t0 > timeoutMs) return { snap, ms: Date.now() - t0, caughtUp: behind.length === 0 };
    await sleep(50);
  }
}

async function waitSubscribers(t: Target, n: number, timeoutMs = 10_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const m = await metrics(t);
    if (m.events.subscribers === n || Date.now() - t0 > timeoutMs) return m.events.subscribers;
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// One measured run

interface Poll {
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

interface RunResult {
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

interface StalledFate {
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

interface RunSpec {
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

async function measure(fleet: Fleet, spec: RunSpec, log: (m: string) => void, failures: string[], noise: string[]): Promise<RunResult> {
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
function unaccounted(r: RunResult): number | null {
  const c = r.cpu;
  if (!c.system) return null;
  const seen = Object.values(c.procs).reduce((a, p) => a + p.cores, 0) + c.loadgen.cores + c.others.cores + c.others.kernel_cores + (r.irq_cores ?? 0);
  return Math.max(0, Math.round((c.system.busy_cores - seen) * 100) / 100);
}

const subCores = (c: CpuReport): number => Object.entries(c.procs).filter(([k]) => k.startsWith('sub')).reduce((a, [, v]) => a + v.cores, 0);

// ---------------------------------------------------------------------------------------------
// Cross-check: raw and ws clients receive the same frames from both servers

async function crossCheck(fleet: Fleet, t: Target, failures: string[]): Promise<{ events: number; frame_bytes: number; clients: string[] }> {
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

// ---------------------------------------------------------------------------------------------

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
