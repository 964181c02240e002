/**
 * The rows of the peers suite, each measured on one server alone (pinned to core 0, its load on
 * core 1): writes at 1, 4 and 50 connections, reads, contended compare-and-set, watch and pub/sub
 * fan-out; with the server's CPU per operation and a check that nothing acknowledged was lost.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { procCpu } from '../lib/cpu.js';
import { have } from '../lib/processes.js';
import { BENCH_DIST_DIR, REPO_ROOT, type BenchOptions } from '../lib/suite.js';
import { wrk } from '../lib/wrk.js';
import { revision } from './ops.js';
import { b64 } from './proto-http.js';
import type { Peer } from './servers.js';

/** 1 KB values over 1000 keys; the connections, clients, watchers and subscribers of the rows. */
export const KEYS = 1000;
export const VALUE = JSON.stringify({ pad: 'x'.repeat(1024 - 10) });
const WRITE_CONNECTIONS = [1, 4, 50] as const;
const READ_CONNECTIONS = 50;
export const CAS_CLIENTS = 16;
export const WATCHERS = 100;
const SUBSCRIBERS = 100;

/** What a row's number counts: a pass over every server, or a round of a duel. */
export type Stage = 'pass' | 'round';

/** One measured row of one server in one pass. */
export interface Row {
  row: string;
  peer: string;
  pass: number;
  ops_per_s: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Server CPU (whole process, user+sys) per operation (per delivery for fan-out rows), µs. */
  server_us_per_op: number | null;
  ok: boolean;
  check: string;
  /** CPU of other processes on the server's core during the row, cores (load on the machine). */
  core0_other: number | null;
  extra?: Record<string, unknown>;
}

/** Busy seconds of cpu0 (all but idle and iowait), from /proc/stat. */
function core0Busy(): number {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu0 '))!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - f[3]! - f[4]!) / 100;
  } catch {
    return 0;
  }
}

/** Server CPU and core-0 interference around `f`. */
function measured<T>(pid: number, f: () => T): { r: T; cpu_s: number; other_cores: number; wall_s: number; threads: Array<{ tid: number; comm: string; cpu_s: number }> } {
  const a = procCpu(pid);
  const b0 = core0Busy();
  const t0 = performance.now();
  const r = f();
  const wall = (performance.now() - t0) / 1000;
  const b = procCpu(pid);
  const busy = core0Busy() - b0;
  const cpu = (b.total ? b.total.user + b.total.sys : 0) - (a.total ? a.total.user + a.total.sys : 0);
  const threads = [...b.threads].map(([tid, t]) => {
    const t1 = a.threads.get(tid);
    return { tid, comm: t.comm, cpu_s: t.user + t.sys - (t1 ? t1.user + t1.sys : 0) };
  });
  return { r, cpu_s: cpu, other_cores: Math.max(0, Math.round(((busy - cpu) / wall) * 100) / 100), wall_s: wall, threads };
}

export function client<T>(spec: Record<string, unknown>, timeoutS: number): T {
  const out = execFileSync('taskset', ['-c', '1', process.execPath, path.join(BENCH_DIST_DIR, 'peers', 'client.js'), JSON.stringify(spec)], {
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    maxBuffer: 16 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as T;
}

/** redis-benchmark on core 1 for about `durationS`: the count from a short probe's rate. */
function redisBench(port: number, test: 'set' | 'get', connections: number, durationS: number): { rps: number; p50_ms: number; p99_ms: number; n: number } {
  const once = (n: number) => {
    const out = execFileSync('taskset', ['-c', '1', 'redis-benchmark', '-p', String(port), '-c', String(connections), '-n', String(n), '-d', '1024', '-r', String(KEYS), '-t', test, '-q', '--csv'], { encoding: 'utf8', timeout: 300_000 });
    const m = /^"[A-Z]+[^"]*","([\d.]+)","[\d.]+","[\d.]+","([\d.]+)","[\d.]+","([\d.]+)"/m.exec(out);
    if (!m) throw new Error(`redis-benchmark output not understood: ${out.slice(0, 300)}`);
    return { rps: Math.round(Number(m[1])), p50_ms: Number(m[2]), p99_ms: Number(m[3]), n };
  };
  const probe = once(Math.max(200, connections * 20));
  return once(Math.min(2_000_000, Math.max(1000, Math.round(probe.rps * durationS))));
}

/** The wrk Lua script of etcd's JSON gateway put over KEYS keys (bodies precomputed: Lua has no base64). */
export function etcdPutScript(dir: string): string {
  const v = b64(VALUE);
  const lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"', 'local bodies = {}'];
  for (let i = 0; i < KEYS; i++) lines.push(`bodies[${i}] = '{"key":"${b64(`bench/put/${i}`)}","value":"${v}"}'`);
  lines.push('local n = 0', `request = function() n = (n + 1) % ${KEYS}; return wrk.format(nil, "/v3/kv/put", nil, bodies[n]) end`);
  const file = path.join(dir, 'etcd-put.lua');
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

export interface Ctx {
  opts: BenchOptions;
  dir: string;
  durationS: number;
  warmS: number;
  writes: number;
  messages: number;
  scripts: { koorPut: string; koorGet: string; etcdPut: string; etcdGet: string };
  /** The cas row's generator in C, when a compiler built it. */
  casBin: string | undefined;
}

/**
 * bench/peers/cas.c (with cas-proto.c) built into `dir` with the system's C compiler, or why not
 * (the cas row then runs its clients in Node, which was near the limit of its core on the floor,
 * Redis and NATS).
 */
export function buildCasGenerator(dir: string): { bin?: string; why?: string } {
  const cc = ['cc', 'gcc'].find(have);
  if (!cc) return { why: 'no C compiler (apt-get install gcc)' };
  const bin = path.join(dir, 'cas');
  try {
    const src = (f: string) => path.join(REPO_ROOT, 'bench', 'peers', f);
    execFileSync(cc, ['-O2', '-o', bin, src('cas.c'), src('cas-proto.c')], { stdio: 'pipe', timeout: 60_000 });
    return { bin };
  } catch (e) {
    return { why: `${cc} failed: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).split('\n')[0]}` };
  }
}

/** The three write rows of one server. */
export async function writeRows(ctx: Ctx, p: Peer, pass: number): Promise<Row[]> {
  const rows: Row[] = [];
  warmWrites(ctx, p);
  for (const c of WRITE_CONNECTIONS) rows.push(await writeRow(ctx, p, c, pass));
  return rows;
}

/** Warm-up, not measured: a JIT (koor) or a fresh data file must not make the first write row. */
export function warmWrites(ctx: Ctx, p: Peer): void {
  ctx.opts.log(`  ${p.label} warm-up (${ctx.warmS} s of writes at 50 connections)…`);
  if (p.kind === 'koor' || p.kind === 'etcd') wrk(p.kind === 'koor' ? `http://127.0.0.1:${p.port}/api/state/bench/put/0` : `http://127.0.0.1:${p.port}/v3/kv/put`, p.kind === 'koor' ? ctx.scripts.koorPut : ctx.scripts.etcdPut, ctx.warmS, 50);
  else if (p.kind === 'redis') redisBench(p.port, 'set', 50, ctx.warmS);
  else client({ peer: p.kind, port: p.port, scenario: 'write', connections: 50, durationS: ctx.warmS }, ctx.warmS + 60);
}

/** One write row: `c` connections writing KEYS keys for ctx.durationS; `pass` is the pass's number (or the round's, in a duel). */
export async function writeRow(ctx: Ctx, p: Peer, c: number, pass: number, word: Stage = 'pass'): Promise<Row> {
  ctx.opts.log(`  ${p.label} write c${c} (${word} ${pass})…`);
  const before = await revision({ peer: p.kind, port: p.port });
  let ops: number | null = null;
  let acked = 0;
  let p50: number | null = null;
  let p99: number | null = null;
  let bad = '';
  let extra: Record<string, unknown> = {};
  const m = measured(p.pid, () => {
    if (p.kind === 'koor' || p.kind === 'etcd') {
      const url = p.kind === 'koor' ? `http://127.0.0.1:${p.port}/api/state/bench/put/0` : `http://127.0.0.1:${p.port}/v3/kv/put`;
      const w = wrk(url, p.kind === 'koor' ? ctx.scripts.koorPut : ctx.scripts.etcdPut, ctx.durationS, c);
      ops = w.rps;
      acked = w.requests - w.non2xx;
      p50 = w.p50_ms;
      p99 = w.p99_ms;
      if (w.non2xx > 0) bad = `${w.non2xx} non-2xx replies`;
    } else if (p.kind === 'redis') {
      const r = redisBench(p.port, 'set', c, ctx.durationS);
      ops = r.rps;
      acked = r.n;
      p50 = r.p50_ms;
      p99 = r.p99_ms;
    } else {
      const r = client<{ acked: number; rps: number; p50_ms: number; p99_ms: number; errors: number; first_error: string; gen_cores: number }>({ peer: p.kind, port: p.port, pid: p.pid, scenario: 'write', connections: c, durationS: ctx.durationS }, ctx.durationS + 60);
      ops = r.rps;
      acked = r.acked;
      p50 = r.p50_ms;
      p99 = r.p99_ms;
      if (r.errors > 0) bad = `${r.errors} errors: ${r.first_error}`;
      extra = { gen_cores: r.gen_cores };
    }
  });
  const after = await revision({ peer: p.kind, port: p.port });
  // redis-benchmark's probe run counts too (its SETs are acknowledged writes as well).
  const moved = after - before;
  const countOk = moved >= acked;
  const check = bad || (countOk ? `${acked} acknowledged, counter moved ${moved}` : `LOST: ${acked} acknowledged, counter moved only ${moved}`);
  const top = m.threads.sort((x, y) => y.cpu_s - x.cpu_s).slice(0, 6).map((t) => ({ tid: t.tid === p.pid ? 'main' : t.tid, comm: t.comm, us_per_op: acked > 0 ? Math.round((t.cpu_s / acked) * 1e7) / 10 : null }));
  return {
    row: `write c${c}`,
    peer: p.label,
    pass,
    ops_per_s: ops,
    p50_ms: p50,
    p99_ms: p99,
    server_us_per_op: acked > 0 ? Math.round((m.cpu_s / (p.kind === 'redis' ? moved : acked)) * 1e7) / 10 : null,
    ok: bad === '' && countOk,
    check,
    core0_other: m.other_cores,
    extra: { ...extra, acked, counter_moved: moved, threads: top },
  };
}

export async function readRow(ctx: Ctx, p: Peer, pass: number): Promise<Row> {
  ctx.opts.log(`  ${p.label} read (pass ${pass})…`);
  const c = READ_CONNECTIONS;
  let res: { ops: number; p50: number | null; p99: number | null; n: number; bad: string } = { ops: 0, p50: null, p99: null, n: 0, bad: '' };
  if (p.kind === 'koor') await fetch(`http://127.0.0.1:${p.port}/api/state/bench/doc`, { method: 'PUT', body: VALUE, headers: { 'content-type': 'application/json' } });
  if (p.kind === 'etcd') await fetch(`http://127.0.0.1:${p.port}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64('bench/doc'), value: b64(VALUE) }) });
  const m = measured(p.pid, () => {
    if (p.kind === 'koor' || p.kind === 'etcd') {
      const url = p.kind === 'koor' ? `http://127.0.0.1:${p.port}/api/state/bench/doc` : `http://127.0.0.1:${p.port}/v3/kv/range`;
      const w = wrk(url, p.kind === 'koor' ? ctx.scripts.koorGet : ctx.scripts.etcdGet, ctx.durationS, c);
      res = { ops: w.rps, p50: w.p50_ms, p99: w.p99_ms, n: w.requests, bad: w.non2xx > 0 ? `${w.non2xx} non-2xx` : '' };
    } else if (p.kind === 'redis') {
      const r = redisBench(p.port, 'get', c, ctx.durationS);
      res = { ops: r.rps, p50: r.p50_ms, p99: r.p99_ms, n: r.n, bad: '' };
    } else {
      const r = client<{ acked: number; rps: number; p50_ms: number; p99_ms: number; errors: number; first_error: string }>({ peer: p.kind, port: p.port, pid: p.pid, scenario: 'read', connections: c, durationS: ctx.durationS }, ctx.durationS + 60);
      res = { ops: r.rps, p50: r.p50_ms, p99: r.p99_ms, n: r.acked, bad: r.errors > 0 ? `${r.errors} errors: ${r.first_error}` : '' };
    }
  });
  return { row: 'read c50', peer: p.label, pass, ops_per_s: res.ops, p50_ms: res.p50, p99_ms: res.p99, server_us_per_op: res.n > 0 ? Math.round((m.cpu_s / res.n) * 1e7) / 10 : null, ok: res.bad === '', check: res.bad || `${res.n} reads`, core0_other: m.other_cores };
}

/** KOOR_BENCH_PEERS_ROWS=write,read,cas,watch,pubsub: only these rows (default all). */
export const only = (row: string): boolean => {
  const rows = process.env.KOOR_BENCH_PEERS_ROWS;
  return !rows || rows.split(',').includes(row);
};

/**
 * Warm-up, not measured, as before the write rows: a JIT must not make the cas row (koor's
 * transaction route, its loser answer and its reply are not on the PUT path the write rows warm);
 * every server gets the same.
 */
export function warmCas(ctx: Ctx, p: Peer): void {
  ctx.opts.log(`  ${p.label} cas warm-up (${ctx.warmS} s)…`);
  client({ peer: p.kind, port: p.port, pid: p.pid, scenario: 'cas', connections: CAS_CLIENTS, durationS: ctx.warmS, casBin: ctx.casBin }, ctx.warmS + 60);
}

/** The cas row: CAS_CLIENTS clients adding 1 to one counter for ctx.durationS. */
export function casRow(ctx: Ctx, p: Peer, pass: number, word: Stage = 'pass'): Row {
  ctx.opts.log(`  ${p.label} cas ×${CAS_CLIENTS} (${word} ${pass})…`);
  const m = measured(p.pid, () => client<{ per_s: number; successes: number; conflicts: number; success_p50_ms: number; ok: boolean; check: string; re_read_on_conflict: boolean; server_cpu_s: number; first_error: string; gen_cores: number }>({ peer: p.kind, port: p.port, pid: p.pid, scenario: 'cas', connections: CAS_CLIENTS, durationS: ctx.durationS, casBin: ctx.casBin }, ctx.durationS + 60));
  const r = m.r;
  return { row: `cas ×${CAS_CLIENTS}`, peer: p.label, pass, ops_per_s: r.per_s, p50_ms: r.success_p50_ms, p99_ms: null, server_us_per_op: r.successes > 0 ? Math.round((r.server_cpu_s / r.successes) * 1e7) / 10 : null, ok: r.ok, check: `${r.check}; ${r.conflicts} conflicts${r.re_read_on_conflict ? ', re-read after each' : ''}${r.first_error ? `; ${r.first_error}` : ''}`, core0_other: m.other_cores, extra: { conflicts: r.conflicts, gen_cores: r.gen_cores } };
}

/** The client-driven rows: contended CAS, watch fan-out, pub/sub fan-out. */
export async function clientRows(ctx: Ctx, p: Peer, pass: number, runs: (row: string) => boolean): Promise<Row[]> {
  const rows: Row[] = [];
  if (runs('cas')) {
    warmCas(ctx, p);
    rows.push(casRow(ctx, p, pass));
  }
  if (p.kind !== 'redis' && runs('watch')) {
    ctx.opts.log(`  ${p.label} watch fan-out to ${WATCHERS} (pass ${pass})…`);
    const m = measured(p.pid, () => client<{ deliveries_per_s: number; delivered: number; writes: number; lag_p50_ms: number; lag_p99_ms: number; ok: boolean; check: string; server_us_per_delivery: number; first_error: string; gen_cores: number }>({ peer: p.kind, port: p.port, pid: p.pid, scenario: 'watch', watchers: WATCHERS, writes: ctx.writes, durationS: 30 }, 120));
    const r = m.r;
    rows.push({ row: `watch ×${WATCHERS}`, peer: p.label, pass, ops_per_s: r.deliveries_per_s, p50_ms: r.lag_p50_ms, p99_ms: r.lag_p99_ms, server_us_per_op: r.server_us_per_delivery, ok: r.ok, check: `${r.check}${r.first_error ? `; ${r.first_error}` : ''}`, core0_other: m.other_cores, extra: { writes: r.writes, delivered: r.delivered, gen_cores: r.gen_cores } });
  }
  if (p.kind !== 'etcd' && runs('pubsub')) {
    ctx.opts.log(`  ${p.label} pub/sub fan-out to ${SUBSCRIBERS} (pass ${pass})…`);
    const m = measured(p.pid, () => client<{ deliveries_per_s: number; delivered: number; messages: number; lag_p50_ms: number; lag_p99_ms: number; ok: boolean; check: string; server_us_per_delivery: number; first_error: string; gen_cores: number }>({ peer: p.kind, port: p.port, pid: p.pid, scenario: 'pubsub', subscribers: SUBSCRIBERS, messages: ctx.messages, durationS: 30 }, 120));
    const r = m.r;
    rows.push({ row: `pubsub ×${SUBSCRIBERS}`, peer: p.label, pass, ops_per_s: r.deliveries_per_s, p50_ms: r.lag_p50_ms, p99_ms: r.lag_p99_ms, server_us_per_op: r.server_us_per_delivery, ok: r.ok, check: `${r.check}${r.first_error ? `; ${r.first_error}` : ''}`, core0_other: m.other_cores, extra: { messages: r.messages, delivered: r.delivered, gen_cores: r.gen_cores } });
  }
  return rows;
}
