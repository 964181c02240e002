/**
 * Cluster mode: one node on SQLite against one node on PostgreSQL against three nodes on
 * one PostgreSQL, same machine, same run. The 1-node SQLite row is the baseline of every ratio.
 *
 *   get        GET /api/state/<key>, 1 KB values over 300 keys, auth off
 *   put        PUT /api/state/<key>, 1 KB over 1000 keys (durable: SQLite --sync full, PostgreSQL
 *              fsync + synchronous_commit on)
 *   publish    POST /api/events/publish, 1 KB data (durable)
 *   delivery   a `ws` subscriber on node B, publishes on node A at a fixed rate (100/s, then
 *              500/s; open loop), latency = frame received − publish sent, p50/p99 (1 node: the
 *              same node; 3 nodes: also a subscriber on A itself); every event must arrive
 *   claim      48 agents (one connection each, spread over the nodes) claim every task of one
 *              pre-filled project: claims/s, and each task claimed exactly once
 *
 * get/put/publish are driven by `wrk` (one process per node, all at once, 48 connections in all,
 * latency distributions merged), delivery and claims by this process (ws, node:http). Every koor
 * node and PostgreSQL on core 0, wrk and this process on core 1 (taskset). Beside each figure: CPU
 * of the nodes, PostgreSQL, the generators and unrelated processes (a disturbed step is measured
 * again); per operation, PostgreSQL statements (pg_stat_statements), writer commits and fsyncs
 * (koor's writer metrics, pg_stat_wal with track_wal_io_timing). Needs `wrk` and Debian's
 * `postgresql` (without it, only the SQLite rows).
 *
 *   npm run bench -- cluster [--quick]
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { openPg } from '../../src/shared/pg.js';
import { makeDoc } from '../lib/doc.js';
import { pooled, sleep, withTimeout } from '../lib/async.js';
import { makeTempDir } from '../lib/cleanup.js';
import { allProcs, procCpu } from '../lib/cpu.js';
import { fmtCores, fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { LatencyHistogram, type LatencySummary } from '../lib/latency.js';
import { have, pin, spawnKoor, type ServerProc } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { createDatabase, postgresCpu, startPostgres, type Postgres } from '../lib/postgres.js';

const execFileAsync = promisify(execFile);

/** Connections in all (split evenly over the nodes), and claimers. */
const CONNECTIONS = 48;
const CLAIMERS = 48;
const GET_KEYS = 300;
const PUT_KEYS = 1000;
/**
 * Fixed publish rates of the delivery-latency runs, events/s: a light one, and one at which a
 * PostgreSQL node and PostgreSQL already keep one core nearly busy here (a commit per publish).
 */
const DELIVERY_RATES = [100, 500];
/** Publishes in flight at most during the delivery run (beyond: counted as late, not sent). */
const DELIVERY_MAX_IN_FLIGHT = 256;
const SERVER_CORE = 0;
const GEN_CORE = 1;

type ConfigName = '1 node, SQLite' | '1 node, PostgreSQL' | '3 nodes, PostgreSQL';

interface Config {
  name: ConfigName;
  key: 'sqlite_1' | 'pg_1' | 'pg_3';
  nodes: number;
  postgres: boolean;
}

const CONFIGS: Config[] = [
  { name: '1 node, SQLite', key: 'sqlite_1', nodes: 1, postgres: false },
  { name: '1 node, PostgreSQL', key: 'pg_1', nodes: 1, postgres: true },
  { name: '3 nodes, PostgreSQL', key: 'pg_3', nodes: 3, postgres: true },
];

// ---------------------------------------------------------------------------------------------
// CPU accounting over a window: the nodes, PostgreSQL (postmaster + backends), each core.

/** Busy seconds (without idle, iowait, steal) of each CPU, from /proc/stat's cpuN lines. */
function coreBusy(): number[] {
  const out: number[] = [];
  try {
    for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const v = m[2]!.trim().split(/\s+/).map(Number);
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
      out[Number(m[1])] = (total - (v[3] ?? 0) - (v[4] ?? 0) - (v[7] ?? 0)) / 100;
    }
  } catch {
    // not Linux
  }
  return out;
}

const cpuOf = (pid: number): number => {
  const t = procCpu(pid).total;
  return t ? t.user + t.sys : 0;
};

interface CpuFigures {
  /** The window, s; the shares below are over `active_s` (the load's own duration, e.g. wrk's). */
  wall_s: number;
  active_s: number;
  /** CPU seconds of all nodes and of PostgreSQL in the window (per-operation figures divide these). */
  nodes_cpu_s: number;
  postgres_cpu_s: number;
  /** All koor nodes together, cores (1.0 = one core busy). */
  nodes_cores: number;
  postgres_cores: number;
  /** This process (ws subscribers, publisher, claimers; idle during wrk runs). */
  bench_cores: number;
  /** The wrk processes (0 where this process is the generator). */
  wrk_cores: number;
  /** Busy share of each core (any process, kernel and interrupts included). */
  core_busy: number[];
  /**
   * Processes that are none of ours (not a node, PostgreSQL, wrk or this process; kernel threads
   * apart) alive at the end of the window: other work on a shared machine, which disturbs the run.
   */
  others_cores: number;
  others_top: string[];
}

/**
 * Starts a CPU window; the closure takes the wrk processes' CPU seconds (they are gone by then)
 * and the load's own duration (a loaded machine can take seconds to start and reap wrk: shares
 * over the whole window would be diluted).
 */
function cpuSpan(nodePids: number[], pgPid: number | null): (wrkCpuS?: number, activeS?: number) => CpuFigures {
  const t0 = performance.now();
  const n0 = nodePids.map(cpuOf);
  const p0 = pgPid === null ? 0 : postgresCpu(pgPid);
  const b0 = process.cpuUsage();
  const c0 = coreBusy();
  const all0 = allProcs();
  return (wrkCpuS = 0, activeS?: number) => {
    const window = (performance.now() - t0) / 1000;
    const wall = Math.min(window, activeS ?? window);
    const n1 = nodePids.map(cpuOf);
    const p1 = pgPid === null ? 0 : postgresCpu(pgPid);
    const b = process.cpuUsage(b0);
    const c1 = coreBusy();
    const all1 = allProcs();
    const r = (x: number) => Math.round((x / wall) * 100) / 100;
    const roots = new Set([process.pid, ...nodePids, ...(pgPid === null ? [] : [pgPid])]);
    const ours = (pid: number): boolean => {
      for (let p = pid, i = 0; i < 6 && p > 1; i++) {
        if (roots.has(p)) return true;
        p = all1.get(p)?.ppid ?? all0.get(p)?.ppid ?? 0;
      }
      return false;
    };
    let others = 0;
    const top: Array<[string, number]> = [];
    for (const [pid, row] of all1) {
      if (pid === 2 || row.ppid === 2 || ours(pid)) continue;
      const was = all0.get(pid);
      const d = row.user + row.sys - (was ? was.user + was.sys : 0);
      if (d <= 0) continue;
      others += d;
      top.push([`${row.comm}(${pid})`, d]);
    }
    top.sort((x, y) => y[1] - x[1]);
    return {
      wall_s: Math.round(window * 1000) / 1000,
      active_s: Math.round(wall * 1000) / 1000,
      nodes_cpu_s: Math.round(n1.reduce((a, x, i) => a + x - n0[i]!, 0) * 1000) / 1000,
      postgres_cpu_s: Math.round((p1 - p0) * 1000) / 1000,
      nodes_cores: r(n1.reduce((a, x, i) => a + x - n0[i]!, 0)),
      postgres_cores: r(p1 - p0),
      bench_cores: r((b.user + b.system) / 1e6),
      wrk_cores: r(wrkCpuS),
      core_busy: c1.map((x, i) => r(x - (c0[i] ?? 0))),
      others_cores: r(others),
      others_top: top.slice(0, 3).map(([n, d]) => `${n} ${r(d).toFixed(2)}`),
    };
  };
}

/** Other processes above this share of a core make a run disturbed: it is measured again. */
const DISTURBED_CORES = 0.1;

/** Runs `fn` up to `attempts` times until a run is undisturbed; keeps the least disturbed. */
async function cleanest<T extends { cpu: CpuFigures }>(what: string, attempts: number, log: (m: string) => void, fn: (attempt: number) => Promise<T>): Promise<T & { attempts: number }> {
  let best: T | null = null;
  let n = 0;
  for (; n < attempts; n++) {
    const r = await fn(n);
    if (best === null || r.cpu.others_cores < best.cpu.others_cores) best = r;
    if (r.cpu.others_cores <= DISTURBED_CORES) break;
    if (n + 1 < attempts) log(`    disturbed: other processes used ${r.cpu.others_cores.toFixed(2)} cores (${r.cpu.others_top.join(', ')}); ${what} again`);
  }
  return { ...best!, attempts: Math.min(n + 1, attempts) };
}

// ---------------------------------------------------------------------------------------------
// wrk, one process per node at once, with the latency distribution printed by the script so the
// processes' percentiles can be merged.

interface WrkOut {
  requests: number;
  /** CPU seconds of the wrk process (user + system). */
  cpu_s: number;
  duration_s: number;
  /** Replies not 2xx/3xx, and socket errors. */
  status_errors: number;
  socket_errors: number;
  /** Latency (µs) at the percentiles 0.05, 0.15, … 99.95: 1000 equal shares of the requests. */
  q: number[];
}

/** A wrk script: `method` on paths `prefix<n>` cycling over `keys` (or one fixed path), and a done() printing the figures. */
function wrkLua(dir: string, name: string, o: { method: string; prefix?: string; path?: string; keys?: number; headers: Record<string, string>; body?: string }): string {
  const lines = [`wrk.method = "${o.method}"`];
  for (const [k, v] of Object.entries(o.headers)) lines.push(`wrk.headers["${k}"] = ${JSON.stringify(v)}`);
  if (o.body !== undefined) lines.push(`wrk.body = ${JSON.stringify(o.body)}`);
  if (o.path) lines.push(`wrk.path = "${o.path}"`);
  if (o.prefix) lines.push('local n = 0', `request = function() n = (n + 1) % ${o.keys ?? 1}; return wrk.format(nil, "${o.prefix}" .. n) end`);
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format("KOOR-WRK {\\"requests\\":%d,\\"duration_us\\":%d,\\"status\\":%d,\\"socket\\":%d,\\"q\\":[", summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout))',
    '  for i = 1, 1000 do',
    '    io.write(string.format("%d", latency:percentile((i - 0.5) / 10)))',
    '    if i < 1000 then io.write(",") end',
    '  end',
    '  io.write("]}\\n")',
    'end',
  );
  const file = path.join(dir, `${name}.lua`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

async function wrkAsync(url: string, script: string, durationS: number, connections: number): Promise<WrkOut> {
  // sh's `times` prints its children's CPU (wrk's) once wrk has exited.
  const { stdout, stderr } = await execFileAsync('sh', ['-c', 'taskset -c "$0" wrk "$@"; s=$?; times >&2; exit $s', String(GEN_CORE), '-t1', `-c${connections}`, `-d${durationS}s`, '-s', script, url], { encoding: 'utf8', timeout: (durationS + 30) * 1000 });
  const m = /KOOR-WRK (\{.*\})/.exec(stdout);
  if (!m) throw new Error(`wrk printed no figures:\n${stdout.slice(-500)}\n${stderr.slice(-500)}`);
  const j = JSON.parse(m[1]!) as { requests: number; duration_us: number; status: number; socket: number; q: number[] };
  const t = [...stderr.matchAll(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/g)][1];
  const cpu = t ? Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]) : 0;
  return { requests: j.requests, cpu_s: cpu, duration_s: j.duration_us / 1e6, status_errors: j.status, socket_errors: j.socket, q: j.q };
}

/** Percentile p (0..100) of the merged distributions, ms (each q value stands for requests/1000 requests). */
function mergedPercentile(runs: WrkOut[], p: number): number | null {
  const pts: Array<[number, number]> = [];
  for (const r of runs) for (const v of r.q) pts.push([v, r.requests / r.q.length]);
  const total = pts.reduce((a, x) => a + x[1], 0);
  if (total === 0) return null;
  pts.sort((a, b) => a[0] - b[0]);
  let seen = 0;
  for (const [v, w] of pts) {
    seen += w;
    if (seen >= (p / 100) * total - 1e-9) return v / 1000;
  }
  return pts[pts.length - 1]![0] / 1000;
}


// ---------------------------------------------------------------------------------------------
// Small HTTP client (keep-alive) for set-up, claims and publishes: node:http, lighter than fetch.

interface Reply {
  status: number;
  body: string;
}

function request(agent: http.Agent, url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}), ...headers }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no reply in 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function must(agent: http.Agent, url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<any> {
  const r = await request(agent, url, method, body, headers);
  if (r.status !== 200) throw new Error(`${method} ${url}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body);
}

// ---------------------------------------------------------------------------------------------
// The write path: commits (koor's writer batches), rows per commit, fsyncs

type Sql = ReturnType<typeof openPg>;

interface Cluster {
  config: Config;
  nodes: ServerProc[];
  /** A connection to this configuration's database (PostgreSQL only), for pg_stat_wal. */
  sql: Sql | null;
  /** pg_stat_statements is loaded and created in the database. */
  statements: boolean;
  agent: http.Agent;
}

interface Counters {
  batches: number;
  rows: number;
  commit_s: number;
  wal_syncs: number | null;
  wal_sync_ms: number | null;
  /** Statements PostgreSQL ran in this database (pg_stat_statements; null without it). */
  statements: number | null;
}

/** Prometheus text → value of `name` (a bare sample, no labels). */
function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{\\})? ([\\d.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Every node's writer batches so far (koor_writer_batch_size, _commit_seconds); PostgreSQL's WAL flushes. */
async function counters(c: Cluster): Promise<Counters> {
  const k: Counters = { batches: 0, rows: 0, commit_s: 0, wal_syncs: null, wal_sync_ms: null, statements: null };
  for (const n of c.nodes) {
    // An idempotent GET: once more if the socket was closed under it.
    const r = await request(c.agent, `${n.url}/metrics`, 'GET').catch(() => request(c.agent, `${n.url}/metrics`, 'GET'));
    k.batches += metric(r.body, 'koor_writer_batch_size_count');
    k.rows += metric(r.body, 'koor_writer_batch_size_sum');
    k.commit_s += metric(r.body, 'koor_writer_commit_seconds_sum');
  }
  if (c.sql) {
    const [w] = await c.sql`SELECT wal_sync, wal_sync_time FROM pg_stat_wal`;
    k.wal_syncs = Number(w?.wal_sync ?? NaN);
    k.wal_sync_ms = Number(w?.wal_sync_time ?? NaN);
    if (c.statements) {
      const [st] = await c.sql`SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;
      k.statements = Number(st?.calls ?? NaN);
    }
  }
  return k;
}

interface WritePath {
  /** Write transactions (writer batches, all nodes) per second. */
  commits_per_s: number | null;
  rows_per_commit: number | null;
  /** Mean time to run and commit one batch (koor's writer; fsync included). */
  commit_ms: number | null;
  /** SQLite: one per commit (--sync full); PostgreSQL: WAL flushes (pg_stat_wal.wal_sync). */
  fsyncs_per_s: number | null;
  /** PostgreSQL: mean time of one WAL flush (track_wal_io_timing). */
  fsync_ms: number | null;
  /** PostgreSQL: statements run (all connections of all nodes: each one a round trip), and per commit. */
  statements: number | null;
  statements_per_commit: number | null;
}

function writePath(a: Counters, b: Counters, wallS: number): WritePath {
  const stmts = a.statements === null || b.statements === null ? null : b.statements - a.statements;
  const fin = (x: number) => (Number.isFinite(x) ? x : null);
  const batches = b.batches - a.batches;
  const syncs = a.wal_syncs === null || b.wal_syncs === null ? batches : b.wal_syncs - a.wal_syncs;
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    commits_per_s: fin(Math.round(batches / wallS)),
    rows_per_commit: batches > 0 ? fin(r1((b.rows - a.rows) / batches)) : null,
    commit_ms: batches > 0 ? fin(r2(((b.commit_s - a.commit_s) / batches) * 1000)) : null,
    fsyncs_per_s: fin(Math.round(syncs / wallS)),
    fsync_ms: a.wal_sync_ms !== null && b.wal_sync_ms !== null && syncs > 0 ? fin(r2((b.wal_sync_ms - a.wal_sync_ms) / syncs)) : null,
    statements: stmts === null ? null : fin(stmts),
    statements_per_commit: stmts !== null && batches > 0 ? fin(r1(stmts / batches)) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// The measurements

interface LoadRow {
  rps: number;
  requests: number;
  p50_ms: number | null;
  p99_ms: number | null;
  status_errors: number;
  socket_errors: number;
  per_node_rps: number[];
  cpu: CpuFigures;
  /** CPU per request, µs: all nodes, PostgreSQL. */
  node_us: number;
  postgres_us: number;
  write: WritePath;
  /** PostgreSQL statements per operation (each a round trip from a node). */
  statements_per_op: number | null;
}

/** get/put/publish: one wrk per node, all at once, CONNECTIONS split evenly. */
async function loadRun(c: Cluster, pg: Postgres | null, scripts: string[], urlPath: string, durationS: number): Promise<LoadRow> {
  const per = c.nodes.map((_, i) => Math.floor(CONNECTIONS / c.nodes.length) + (i < CONNECTIONS % c.nodes.length ? 1 : 0));
  const k0 = await counters(c);
  const span = cpuSpan(
    c.nodes.map((n) => n.pid),
    pg?.pid ?? null,
  );
  const runs = await Promise.all(c.nodes.map((n, i) => wrkAsync(`${n.url}${urlPath}`, scripts[i]!, durationS, per[i]!)));
  const cpu = span(
    runs.reduce((a, r) => a + r.cpu_s, 0),
    Math.max(...runs.map((r) => r.duration_s)),
  );
  const k1 = await counters(c);
  const requests = runs.reduce((a, r) => a + r.requests, 0);
  const rps = runs.reduce((a, r) => a + r.requests / r.duration_s, 0);
  const perReq = (cpuS: number) => (requests > 0 ? Math.round((cpuS / requests) * 1e7) / 10 : 0);
  return {
    rps: Math.round(rps),
    requests,
    p50_ms: mergedPercentile(runs, 50),
    p99_ms: mergedPercentile(runs, 99),
    status_errors: runs.reduce((a, r) => a + r.status_errors, 0),
    socket_errors: runs.reduce((a, r) => a + r.socket_errors, 0),
    per_node_rps: runs.map((r) => Math.round(r.requests / r.duration_s)),
    cpu,
    node_us: perReq(cpu.nodes_cpu_s),
    postgres_us: perReq(cpu.postgres_cpu_s),
    write: writePath(k0, k1, cpu.active_s),
    statements_per_op: perOp(k0, k1, requests),
  };
}

function perOp(a: Counters, b: Counters, ops: number): number | null {
  return a.statements === null || b.statements === null || ops === 0 ? null : Math.round(((b.statements - a.statements) / ops) * 10) / 10;
}

interface DeliveryPath {
  path: 'same node' | 'cross node';
  received: number;
  latency_ms: LatencySummary;
}

interface DeliveryRun {
  rate: number;
  sent: number;
  /** Publishes not sent because DELIVERY_MAX_IN_FLIGHT were in flight: the node fell behind. */
  late_not_sent: number;
  publish_failures: string[];
  ack_ms: LatencySummary;
  paths: DeliveryPath[];
  cpu: CpuFigures;
  /** CPU per event published, µs: all nodes (publishing, following the shared log, sending frames), PostgreSQL. */
  node_us: number;
  postgres_us: number;
  write: WritePath;
}

/** A `ws` subscriber on `pattern`, calling back (seq, receive time) per frame. */
function subscriber(node: ServerProc, pattern: string, onFrame: (seq: number, at: number) => void): Promise<WebSocket> {
  const ws = new WebSocket(`${node.url.replace(/^http/, 'ws')}/api/events/subscribe?pattern=${encodeURIComponent(pattern)}`);
  ws.on('message', (m) => {
    const at = performance.now();
    const e = JSON.parse(m.toString()) as { data?: { seq?: number } };
    if (typeof e.data?.seq === 'number') onFrame(e.data.seq, at);
  });
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, res) => reject(new Error(`subscribe on ${node.url}: HTTP ${res.statusCode}`)));
    }),
    10_000,
    `subscribe on ${node.url}`,
  );
}

/**
 * Publishes on node A at `rate` for `seconds`, open loop (each send at its scheduled time,
 * not after the previous reply); subscribers on A, and on B when there are several nodes.
 */
async function delivery(c: Cluster, pg: Postgres | null, rate: number, seconds: number, attempt: number): Promise<DeliveryRun> {
  const total = Math.round(rate * seconds);
  const topic = `bench.lat${rate}x${attempt}`;
  const sentAt = new Float64Array(total).fill(NaN);
  const subs: Array<{ path: DeliveryPath['path']; node: ServerProc; hist: LatencyHistogram; got: Uint8Array; received: number }> = [];
  subs.push({ path: 'same node', node: c.nodes[0]!, hist: new LatencyHistogram(), got: new Uint8Array(total), received: 0 });
  if (c.nodes.length > 1) subs.push({ path: 'cross node', node: c.nodes[1]!, hist: new LatencyHistogram(), got: new Uint8Array(total), received: 0 });
  const sockets: WebSocket[] = [];
  const pubAgent = new http.Agent({ keepAlive: true, maxSockets: DELIVERY_MAX_IN_FLIGHT });
  try {
    for (const s of subs) {
      sockets.push(
        await subscriber(s.node, `${topic}.*`, (seq, at) => {
          if (seq < 0 || seq >= total || s.got[seq] || Number.isNaN(sentAt[seq]!)) return;
          s.got[seq] = 1;
          s.received++;
          s.hist.record(at - sentAt[seq]!);
        }),
      );
    }
    await sleep(200);
    const ack = new LatencyHistogram();
    const url = `${c.nodes[0]!.url}/api/events/publish`;
    let sent = 0;
    let late = 0;
    const failures: string[] = [];
    const pending = new Set<Promise<void>>();
    const k0 = await counters(c);
    const span = cpuSpan(
      c.nodes.map((n) => n.pid),
      pg?.pid ?? null,
    );
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000 + 5000;
    while (sent + late < total && performance.now() < deadline) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
      while (sent + late < due) {
        const seq = sent + late;
        if (pending.size >= DELIVERY_MAX_IN_FLIGHT) {
          late++;
          continue;
        }
        const body = JSON.stringify({ topic: `${topic}.x`, data: { seq }, source: 'bench' });
        sentAt[seq] = performance.now();
        const pr: Promise<void> = request(pubAgent, url, 'POST', body)
          .then(
            (r) => {
              ack.record(performance.now() - sentAt[seq]!);
              if (r.status !== 200 && failures.length < 5) failures.push(`HTTP ${r.status} ${r.body.slice(0, 100)}`);
            },
            (e: Error) => {
              if (failures.length < 5) failures.push(e.message);
            },
          )
          .finally(() => pending.delete(pr));
        pending.add(pr);
        sent++;
      }
      await sleep(2);
    }
    await withTimeout(Promise.all(pending), 30_000, 'delivery publishes');
    // Frames still on their way (bounded wait).
    const until = performance.now() + 10_000;
    while (subs.some((s) => s.received < sent) && performance.now() < until) await sleep(20);
    const cpu = span();
    const k1 = await counters(c);
    const perEvent = (cpuS: number) => (sent > 0 ? Math.round((cpuS / sent) * 1e7) / 10 : 0);
    return {
      rate,
      sent,
      late_not_sent: late,
      publish_failures: failures,
      ack_ms: ack.summary(),
      paths: subs.map((s) => ({ path: s.path, received: s.received, latency_ms: s.hist.summary() })),
      cpu,
      node_us: perEvent(cpu.nodes_cpu_s),
      postgres_us: perEvent(cpu.postgres_cpu_s),
      write: writePath(k0, k1, cpu.active_s),
    };
  } finally {
    pubAgent.destroy();
    for (const s of sockets) s.terminate();
  }
}

interface ClaimRun {
  tasks: number;
  claimed: number;
  unique_ids: number;
  ready_left: number;
  unexpected: Record<string, number>;
  claims_per_s: number;
  latency_ms: LatencySummary;
  cpu: CpuFigures;
  node_us: number;
  postgres_us: number;
  write: WritePath;
  statements_per_op: number | null;
}

/** Fills project `bench-claims-<attempt>` with `tasks` tasks (not timed), then every agent claims until none is left. */
async function claims(c: Cluster, pg: Postgres | null, agents: Array<{ id: string; node: ServerProc }>, tasks: number, attempt: number): Promise<ClaimRun> {
  const project = `bench-claims-${attempt}`;
  await withTimeout(
    pooled(
      Array.from({ length: tasks }, (_, i) => i),
      32,
      async (i) => void (await must(c.agent, `${c.nodes[i % c.nodes.length]!.url}/api/tasks`, 'POST', JSON.stringify({ project, title: `task ${i}` }))),
    ),
    180_000,
    'creating tasks',
  );
  const ids: number[] = [];
  const unexpected: Record<string, number> = {};
  const hist = new LatencyHistogram();
  let lastOk = 0;
  let attempts = 0;
  const maxAttempts = tasks * 3 + agents.length * 10;
  const claimAgent = new http.Agent({ keepAlive: true, maxSockets: agents.length });
  const body = JSON.stringify({ project });
  try {
    const k0 = await counters(c);
    const span = cpuSpan(
      c.nodes.map((n) => n.pid),
      pg?.pid ?? null,
    );
    const t0 = performance.now();
    const deadline = t0 + 120_000;
    await Promise.all(
      agents.map(async (a) => {
        while (attempts < maxAttempts && performance.now() < deadline) {
          attempts++;
          const s = performance.now();
          const r = await request(claimAgent, `${a.node.url}/api/tasks/claim`, 'POST', body, { 'x-koor-instance': a.id });
          const end = performance.now();
          if (r.status === 200) {
            hist.record(end - s);
            ids.push((JSON.parse(r.body) as { id: number }).id);
            lastOk = end;
          } else {
            if (r.status !== 404) unexpected[r.status] = (unexpected[r.status] ?? 0) + 1;
            return; // 404: none ready any more
          }
        }
      }),
    );
    const cpu = span();
    const k1 = await counters(c);
    const wall = Math.max(0.001, (lastOk - t0) / 1000);
    const left = (await must(c.agent, `${c.nodes[0]!.url}/api/tasks?project=${project}&status=ready&limit=10`, 'GET')) as unknown[];
    const perClaim = (cpuS: number) => (ids.length > 0 ? Math.round((cpuS / ids.length) * 1e7) / 10 : 0);
    return {
      tasks,
      claimed: ids.length,
      unique_ids: new Set(ids).size,
      ready_left: left.length,
      unexpected,
      claims_per_s: Math.round(ids.length / wall),
      latency_ms: hist.summary(),
      cpu,
      node_us: perClaim(cpu.nodes_cpu_s),
      postgres_us: perClaim(cpu.postgres_cpu_s),
      write: writePath(k0, k1, cpu.active_s),
      statements_per_op: perOp(k0, k1, ids.length),
    };
  } finally {
    claimAgent.destroy();
  }
}

/** Sequential 8 KB appends + fdatasync in `dir` for `seconds` (bounded count): the disk's flush rate. */
function fsyncProbe(dir: string, seconds: number): { fsyncs_per_s: number; p50_ms: number | null; p99_ms: number | null } {
  const file = path.join(dir, 'fsync-probe');
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.alloc(8192, 1);
  const h = new LatencyHistogram();
  try {
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000 && h.count < 100_000) {
      const s = performance.now();
      fs.writeSync(fd, buf);
      fs.fdatasyncSync(fd);
      h.record(performance.now() - s);
    }
    const sum = h.summary();
    return { fsyncs_per_s: Math.round(h.count / ((performance.now() - t0) / 1000)), p50_ms: sum.p50, p99_ms: sum.p99 };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

/** Pins PostgreSQL's postmaster and every process it has forked so far (new backends inherit). */
function pinPostgres(pgPid: number, cpu: number): void {
  pin(pgPid, cpu);
  for (const [pid, c] of allProcs()) if (c.ppid === pgPid) pin(pid, cpu);
}

interface ConfigResult {
  config: ConfigName;
  nodes: number;
  get: LoadRow & { attempts: number };
  put: LoadRow & { attempts: number };
  publish: LoadRow & { attempts: number };
  delivery: Array<DeliveryRun & { attempts: number }>;
  claim: ClaimRun & { attempts: number };
}

interface Durations {
  durationS: number;
  deliveryS: number;
  tasks: number;
  attempts: number;
}

async function runConfig(cfg: Config, pg: Postgres | null, dir: string, o: Durations, log: (m: string) => void): Promise<ConfigResult> {
  const nodes: ServerProc[] = [];
  let sql: Sql | null = null;
  // Idle sockets dropped after 2 s: the server closes idle keep-alive connections on its own (a
  // request sent on one as it closes would fail with "socket hang up"); between runs this agent idles.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 2000 });
  try {
    let database = '';
    if (cfg.postgres) {
      if (!pg) throw new Error('no PostgreSQL');
      database = await createDatabase(pg, `koor_bench_${cfg.key}`);
    }
    // One after another: the first applies the migrations.
    for (let i = 0; i < cfg.nodes; i++) {
      const n = await spawnKoor(cfg.postgres ? ['--database', database] : ['--sync', 'full']);
      nodes.push(n);
      pin(n.pid, SERVER_CORE);
    }
    if (pg) pinPostgres(pg.pid, SERVER_CORE);
    if (cfg.postgres) sql = openPg(database, { max: 1, name: 'koor-bench-counters' });
    let statements = false;
    if (sql) {
      try {
        await sql.unsafe('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
        statements = true;
      } catch {
        // not preloaded: no statement counts
      }
    }
    const c: Cluster = { config: cfg, nodes, sql, agent, statements };

    const doc = makeDoc();
    const json = { 'Content-Type': 'application/json' };
    await pooled(
      Array.from({ length: GET_KEYS }, (_, i) => i),
      16,
      async (i) => void (await must(agent, `${nodes[i % nodes.length]!.url}/api/state/bench/get/${i}`, 'PUT', doc)),
    );
    const getScripts = nodes.map((_, i) => wrkLua(dir, `${cfg.key}-get-${i}`, { method: 'GET', prefix: '/api/state/bench/get/', keys: GET_KEYS, headers: {} }));
    const putKeys = Math.floor(PUT_KEYS / nodes.length);
    const putScripts = nodes.map((_, i) => wrkLua(dir, `${cfg.key}-put-${i}`, { method: 'PUT', prefix: `/api/state/bench/put/n${i}-`, keys: putKeys, headers: json, body: doc }));
    const pubScripts = nodes.map((_, i) => wrkLua(dir, `${cfg.key}-pub-${i}`, { method: 'POST', path: '/api/events/publish', headers: json, body: JSON.stringify({ topic: 'bench.publish', data: JSON.parse(doc), source: `node${i}` }) }));

    const step = async (what: string, scripts: string[], urlPath: string) => {
      log(`  ${cfg.name}: ${what}, ${CONNECTIONS} connections over ${nodes.length} node(s), 1 s warm-up + ${o.durationS} s`);
      await loadRun(c, pg, scripts, urlPath, 1);
      const r = await cleanest(what, o.attempts, log, () => loadRun(c, pg, scripts, urlPath, o.durationS));
      log(`    ${fmtInt(r.rps)} req/s (per node ${r.per_node_rps.map(fmtInt).join(' / ')}), p99 ${fmtMs(r.p99_ms)} ms; cores: nodes ${fmtCores(r.cpu.nodes_cores)}, PG ${fmtCores(r.cpu.postgres_cores)}, wrk ${fmtCores(r.cpu.wrk_cores)}, others ${fmtCores(r.cpu.others_cores)}`);
      return r;
    };
    const get = await step('state GET 1 KB', getScripts, '/api/state/bench/get/0');
    const put = await step('durable PUT 1 KB', putScripts, '/api/state/bench/put/0');
    const publish = await step('publish (durable)', pubScripts, '/api/events/publish');

    const del: ConfigResult['delivery'] = [];
    for (const rate of DELIVERY_RATES) {
      log(`  ${cfg.name}: delivery latency, ${rate} publishes/s for ${o.deliveryS} s on node A, subscriber(s) on ${nodes.length > 1 ? 'A and B' : 'A'}`);
      const d = await cleanest('delivery', o.attempts, log, (k) => delivery(c, pg, rate, o.deliveryS, k));
      for (const p of d.paths) log(`    ${p.path}: ${p.received}/${d.sent} received, p50 ${fmtMs(p.latency_ms.p50)} ms, p99 ${fmtMs(p.latency_ms.p99)} ms; nodes ${d.node_us} µs/event`);
      if (d.publish_failures.length > 0) log(`    publish failures: ${d.publish_failures.join('; ')}`);
      del.push(d);
    }

    log(`  ${cfg.name}: claim race: ${CLAIMERS} agents on ${nodes.length} node(s) claim ${o.tasks} pre-filled tasks`);
    const agents: Array<{ id: string; node: ServerProc }> = [];
    for (let i = 0; i < CLAIMERS; i++) {
      const node = nodes[i % nodes.length]!;
      agents.push({ id: (await must(agent, `${node.url}/api/instances/register`, 'POST', JSON.stringify({ name: `claimer-${i}` }))).id as string, node });
    }
    const claim = await cleanest('claim race', o.attempts, log, (k) => claims(c, pg, agents, o.tasks, k));
    log(`    ${fmtInt(claim.claims_per_s)} claims/s, ${claim.unique_ids}/${claim.tasks} distinct, ${claim.ready_left} left ready`);
    return { config: cfg.name, nodes: nodes.length, get, put, publish, delivery: del, claim };
  } finally {
    agent.destroy();
    if (sql) await sql.end({ timeout: 1 });
    for (const n of nodes) await n.stop();
  }
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const o: Durations = { durationS: opts.quick ? 2 : 8, deliveryS: opts.quick ? 2 : 5, tasks: opts.quick ? 1000 : 4000, attempts: opts.quick ? 2 : 3 };
  const missing = ['wrk', 'taskset'].filter((c) => !have(c));
  if (missing.length > 0) return { ok: true, skipped: `needs ${missing.join(', ')} (apt-get install wrk util-linux)`, warnings: [`cluster: skipped, missing ${missing.join(', ')}`] };
  const cores = os.availableParallelism();
  if (cores < 2) return { ok: true, skipped: 'needs 2 cores (servers on one, the generators on the other)', warnings: ['cluster: skipped, fewer than 2 cores'] };
  const warnings: string[] = [];
  const problems: string[] = [];
  const tmp = makeTempDir('koor-bench-cluster-');
  const results: ConfigResult[] = [];
  let pg: Postgres | null = null;
  let disk: ReturnType<typeof fsyncProbe> | null = null;
  try {
    disk = fsyncProbe(tmp.dir, 1);
    opts.log(`disk under ${tmp.dir}: ${fmtInt(disk.fsyncs_per_s)} fdatasync/s one after another (8 KB appends), p50 ${fmtMs(disk.p50_ms)} ms`);
    // track_wal_io_timing: pg_stat_wal's time per WAL flush.
    // track_wal_io_timing: pg_stat_wal's time per WAL flush; pg_stat_statements: statements (round trips) per operation.
    let started = await startPostgres({ track_wal_io_timing: 'on', shared_preload_libraries: 'pg_stat_statements' });
    if ('skipped' in started) started = await startPostgres({ track_wal_io_timing: 'on' });
    if ('skipped' in started) warnings.push(`PostgreSQL rows skipped: ${started.skipped}`);
    else pg = started;
    if (pg) {
      pinPostgres(pg.pid, SERVER_CORE);
      opts.log(`${pg.version}: fsync and synchronous_commit on, data under ${os.tmpdir()}`);
    }
    pin(process.pid, GEN_CORE);
    opts.log(`koor nodes${pg ? ' and PostgreSQL' : ''} on core ${SERVER_CORE}; wrk and this process (subscribers, publisher, claimers) on core ${GEN_CORE}`);
    for (const cfg of CONFIGS) {
      if (cfg.postgres && !pg) continue;
      opts.log(cfg.name);
      results.push(await runConfig(cfg, pg, tmp.dir, o, opts.log));
    }
  } finally {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', `0-${cores - 1}`, String(process.pid)], { stdio: 'ignore' });
    } catch {
      // no taskset
    }
    pg?.stop();
    tmp.remove();
  }

  // Checks: every reply as expected, every event delivered, every task claimed exactly once.
  for (const r of results) {
    for (const [k, l] of [['get', r.get], ['put', r.put], ['publish', r.publish], ...r.delivery.map((d) => [`delivery ${d.rate}/s`, d] as const), ['claim', r.claim]] as const) {
      if (l.cpu.others_cores > DISTURBED_CORES) warnings.push(`${r.config} ${k}: other processes used ${l.cpu.others_cores.toFixed(2)} cores in the cleanest of ${l.attempts} runs (${l.cpu.others_top.join(', ')}): shared machine`);
    }
    for (const [k, l] of [['get', r.get], ['put', r.put], ['publish', r.publish]] as const) {
      if (l.status_errors > 0 || l.socket_errors > 0) problems.push(`${r.config} ${k}: ${l.status_errors} non-2xx replies, ${l.socket_errors} socket errors`);
    }
    for (const d of r.delivery) {
      for (const p of d.paths) if (p.received !== d.sent) problems.push(`${r.config} delivery ${d.rate}/s (${p.path}): ${p.received} of ${d.sent} events received`);
      if (d.publish_failures.length > 0) problems.push(`${r.config} delivery ${d.rate}/s: publishes failed: ${d.publish_failures.join('; ')}`);
      if (d.late_not_sent > 0) warnings.push(`${r.config} delivery: ${d.late_not_sent} publishes not sent (${DELIVERY_MAX_IN_FLIGHT} in flight already): the node fell behind ${d.rate}/s`);
    }
    const cl = r.claim;
    if (cl.claimed !== cl.tasks || cl.unique_ids !== cl.tasks || cl.ready_left !== 0 || Object.keys(cl.unexpected).length > 0) {
      problems.push(`${r.config} claims: ${cl.claimed} claimed, ${cl.unique_ids} distinct of ${cl.tasks}, ${cl.ready_left} left ready, unexpected statuses ${JSON.stringify(cl.unexpected)} (want each task claimed exactly once)`);
    }
  }

  const base = results.find((r) => r.config === '1 node, SQLite');
  const isPg = (r: ConfigResult) => r.config.includes('PostgreSQL');
  const num = (x: number | null, f: (x: number) => string = String) => (x === null ? '-' : f(x));
  type Row = { what: string; pick: (r: ConfigResult) => { rps: number; p50: number | null; p99: number | null; cpu: CpuFigures; node_us: number; postgres_us: number; write: WritePath; stmts: number | null } };
  const scenarios: Row[] = [
    { what: 'state GET 1 KB', pick: (r) => ({ rps: r.get.rps, p50: r.get.p50_ms, p99: r.get.p99_ms, cpu: r.get.cpu, node_us: r.get.node_us, postgres_us: r.get.postgres_us, write: r.get.write, stmts: r.get.statements_per_op }) },
    { what: 'durable PUT 1 KB', pick: (r) => ({ rps: r.put.rps, p50: r.put.p50_ms, p99: r.put.p99_ms, cpu: r.put.cpu, node_us: r.put.node_us, postgres_us: r.put.postgres_us, write: r.put.write, stmts: r.put.statements_per_op }) },
    { what: 'publish (durable)', pick: (r) => ({ rps: r.publish.rps, p50: r.publish.p50_ms, p99: r.publish.p99_ms, cpu: r.publish.cpu, node_us: r.publish.node_us, postgres_us: r.publish.postgres_us, write: r.publish.write, stmts: r.publish.statements_per_op }) },
    { what: 'task claim race', pick: (r) => ({ rps: r.claim.claims_per_s, p50: r.claim.latency_ms.p50, p99: r.claim.latency_ms.p99, cpu: r.claim.cpu, node_us: r.claim.node_us, postgres_us: r.claim.postgres_us, write: r.claim.write, stmts: r.claim.statements_per_op }) },
  ];
  const baseDelivery = (rate: number) => base?.delivery.find((d) => d.rate === rate)?.paths[0]?.latency_ms ?? null;
  const tables: BenchTable[] = [
    {
      title: `Cluster mode vs one SQLite node, same run (${CONNECTIONS} connections in all, split over the nodes, ${o.durationS} s wrk runs; claims: ${CLAIMERS} agents; nodes + PostgreSQL on core ${SERVER_CORE}, generators on core ${GEN_CORE})`,
      columns: ['scenario', 'config', 'ops/s', 'vs SQLite', 'p50 ms', 'p99 ms', 'nodes cores', 'PG cores', `core${SERVER_CORE} busy`, 'gen cores', `core${GEN_CORE} busy`, 'others'],
      rows: scenarios.flatMap((s) =>
        results.map((r) => {
          const x = s.pick(r);
          return [s.what, r.config, fmtInt(x.rps), base ? fmtRatio(ratio(x.rps, s.pick(base).rps)) : '-', fmtMs(x.p50), fmtMs(x.p99), fmtCores(x.cpu.nodes_cores), isPg(r) ? fmtCores(x.cpu.postgres_cores) : '-', fmtCores(x.cpu.core_busy[SERVER_CORE]), fmtCores(x.cpu.wrk_cores + x.cpu.bench_cores), fmtCores(x.cpu.core_busy[GEN_CORE]), fmtCores(x.cpu.others_cores)];
        }),
      ),
    },
    {
      title: 'What each operation costs: CPU per operation (all nodes; PostgreSQL postmaster + backends) and the write path (writer batches of all nodes; PostgreSQL WAL flushes)',
      columns: ['scenario', 'config', 'node µs/op', 'PG µs/op', 'PG stmts/op', 'commits/s', 'ops/commit', 'commit ms', 'fsyncs/s', 'fsync ms'],
      rows: scenarios.flatMap((s) =>
        results.map((r) => {
          const x = s.pick(r);
          const w = x.write;
          const writes = s.what !== 'state GET 1 KB';
          return [s.what, r.config, String(x.node_us), isPg(r) ? String(x.postgres_us) : '-', num(x.stmts), writes ? num(w.commits_per_s, fmtInt) : '-', writes ? num(w.rows_per_commit) : '-', writes ? num(w.commit_ms) : '-', writes ? num(w.fsyncs_per_s, fmtInt) : '-', writes && isPg(r) ? num(w.fsync_ms) : '-'];
        }),
      ),
    },
    {
      title: `Event delivery latency: publishes on node A at a fixed rate for ${o.deliveryS} s (open loop), a ws subscriber on A (same node) and on B (cross node); latency = frame received − publish sent; CPU per event published`,
      columns: ['config', 'rate/s', 'path', 'received', 'p50 ms', 'p99 ms', 'max ms', 'p50 vs SQLite', 'p99 vs SQLite', 'ack p50 ms', 'ack p99 ms', 'ops/commit', 'node µs/event', 'PG µs/event', 'core0 busy', 'others'],
      rows: DELIVERY_RATES.flatMap((rate) =>
        results.flatMap((r) => {
          const run = r.delivery.find((d) => d.rate === rate);
          const b = baseDelivery(rate);
          return (run?.paths ?? []).map((d) => [
            r.config,
            String(rate),
            d.path,
            `${d.received}/${run!.sent}`,
            fmtMs(d.latency_ms.p50),
            fmtMs(d.latency_ms.p99),
            fmtMs(d.latency_ms.max),
            b ? fmtRatio(ratio(d.latency_ms.p50 ?? 0, b.p50 ?? 0)) : '-',
            b ? fmtRatio(ratio(d.latency_ms.p99 ?? 0, b.p99 ?? 0)) : '-',
            fmtMs(run!.ack_ms.p50),
            fmtMs(run!.ack_ms.p99),
            num(run!.write.rows_per_commit),
            String(run!.node_us),
            isPg(r) ? String(run!.postgres_us) : '-',
            fmtCores(run!.cpu.core_busy[SERVER_CORE]),
            fmtCores(run!.cpu.others_cores),
          ]);
        }),
      ),
    },
  ];
  return {
    ok: problems.length === 0,
    problems,
    postgres: pg?.version ?? null,
    disk,
    layout: { server_core: SERVER_CORE, generator_core: GEN_CORE, connections: CONNECTIONS, claimers: CLAIMERS, cores },
    durations: o,
    results,
    tables,
    notes: [
      `Layout: every koor node and PostgreSQL (postmaster and all backends) pinned to core ${SERVER_CORE}; the wrk processes (one per node, run at once, connections split evenly) and this process (ws subscribers, publisher, claimers) pinned to core ${GEN_CORE}. ${cores > 2 ? `This machine has ${cores} cores; two are used.` : 'This machine has 2 cores.'}`,
      `core${SERVER_CORE} busy near 1.00: the servers' one core is the limit, and 3 nodes share it with PostgreSQL, so they cannot beat 1 node here; gen cores (wrk + this process) well below 1.00: the generators were not the limit. others: CPU of unrelated processes during the run (above ${DISTURBED_CORES}: measured again, the cleanest kept).`,
      `Disk: ${disk ? `${fmtInt(disk.fsyncs_per_s)} fdatasync/s one after another (8 KB appends), p50 ${fmtMs(disk.p50_ms)} ms` : 'not probed'}. fsyncs/s: SQLite one per commit (--sync full); PostgreSQL pg_stat_wal.wal_sync (one WAL flush can cover several commits), fsync ms from track_wal_io_timing. commit ms: koor's writer, one batch run and committed (PostgreSQL: the cluster-wide write lock taken, the flush waited for).`,
      `Claims: ${CLAIMERS} agents (one connection each, spread over the nodes) claim one pre-filled project until it is empty; ops/s = tasks / time to the last successful claim. Each task claimed exactly once: ${results.map((r) => `${r.config} ${r.claim.unique_ids}/${r.claim.tasks}`).join(', ')}.`,
      'PostgreSQL nodes keep no state values across requests (every GET reads PostgreSQL), and every write batch of every node holds the one cluster-wide write lock until its commit is flushed: writes serialise across nodes, as behind SQLite\'s single writer.',
      ...problems,
    ],
    warnings,
  };
}
