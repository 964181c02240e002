/**
 * Shared helpers of the benchmark suites (run by bench/run.ts).
 *
 * A suite is a module `bench/<suite>.ts` exporting `run(opts: BenchOptions)`; it returns a plain
 * JSON-able record. Conventions run.ts understands in that record (all optional):
 *   - `tables: BenchTable[]`  printed to stdout as text tables (not written to the JSON file);
 *   - `notes: string[]`       printed under the tables;
 *   - `warnings: string[]`    printed loudly;
 *   - `failures: string[]`    failed checks (a soak's violated invariants), printed loudly; set `ok: false` too;
 *   - `ok: false`             the run is invalid (errors, wrong statuses): exit code 1.
 *
 * Everything here binds to 127.0.0.1 only and is bounded in time: child start-up, each load
 * run, shutdown. Every child process and temp dir is registered and removed by `cleanupAll()`
 * (run.ts calls it in `finally`, on SIGINT/SIGTERM and, synchronously, on exit).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import WebSocket from 'ws';

export interface BenchOptions {
  quick: boolean;
  log: (msg: string) => void;
}

export type Suite = (opts: BenchOptions) => Promise<Record<string, unknown>>;

export interface BenchTable {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
}

/** dist/bench (where the compiled suites live). */
export const BENCH_DIST_DIR = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (dist/bench/../..). */
export const REPO_ROOT = path.resolve(BENCH_DIST_DIR, '..', '..');
/** bench/results in the source tree. */
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');
export const KOOR_MAIN_JS = path.join(REPO_ROOT, 'dist', 'src', 'main.js');

/** Promise that rejects after `ms` with `what` in the message. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * fetch (which keeps connections alive), sent once more when the connection it went out on was
 * one the server closed while idle — uWS closes a connection idle for 10 s, as a probe's is
 * across the wrk runs between two probes — and undici failed it ("other side closed",
 * ECONNRESET). Only a request that may be repeated: a GET, or one carrying an Idempotency-Key.
 */
export async function fetchPastIdleClose(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    const closedIdle = /other side closed|ECONNRESET/.test(String((e as { cause?: unknown }).cause));
    const repeatable = (init.method ?? 'GET') === 'GET' || new Headers(init.headers).has('idempotency-key');
    if (!closedIdle || !repeatable) throw e;
    return fetch(url, init);
  }
}

/** Runs `fn` over `items` with at most `width` in flight. */
export async function pooled<T>(items: readonly T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Cleanup registry

interface Tracked {
  child?: ChildProcess;
  dir?: string;
}
const tracked = new Set<Tracked>();

/** A child this suite started itself (not through spawnNode): killed by cleanupAll() and on exit if still alive. */
export function trackChild(child: ChildProcess): void {
  const t: Tracked = { child };
  tracked.add(t);
  child.once('exit', () => tracked.delete(t));
}

/** Kills every tracked child still alive and removes tracked dirs (async, graceful first). */
export async function cleanupAll(): Promise<void> {
  const all = [...tracked];
  await Promise.all(all.map((t) => (t.child ? stopChild(t.child, 5000) : Promise.resolve())));
  for (const t of all) {
    if (t.dir) fs.rmSync(t.dir, { recursive: true, force: true });
    tracked.delete(t);
  }
}

/** Last resort on process exit: SIGKILL children, remove dirs, synchronously. */
export function cleanupAllSync(): void {
  for (const t of tracked) {
    if (t.child && t.child.exitCode === null && t.child.signalCode === null) t.child.kill('SIGKILL');
    if (t.dir) fs.rmSync(t.dir, { recursive: true, force: true });
  }
  tracked.clear();
}

/** Temp dir under $KOOR_BENCH_TMP or the OS temp dir, removed by cleanup. */
export function makeTempDir(prefix: string): { dir: string; remove: () => void } {
  const base = process.env.KOOR_BENCH_TMP || os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, prefix));
  const t: Tracked = { dir };
  tracked.add(t);
  return {
    dir,
    remove: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      tracked.delete(t);
    },
  };
}

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ---------------------------------------------------------------------------------------------
// Child processes

export interface ServerProc {
  name: string;
  pid: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  child: ChildProcess;
  /** Last 64 KiB of the child's stderr+stdout (for diagnostics). */
  output(): string;
  /** SIGTERM, wait up to graceMs, then SIGKILL; removes its temp dir if any. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_TAIL_BYTES = 64 * 1024;
/** Both koor-server and the baseline log `"api":"127.0.0.1:<port>"` once listening. */
const LISTEN_RE = /"api":"127\.0\.0\.1:(\d+)"/;

/** Environment without KOOR_* (so a developer's settings cannot change what is measured). */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KOOR_')) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Starts `node <script> <args>` and resolves once it logs its listen address. Output is drained
 * continuously (a full pipe would stall the child) and only a bounded tail is kept.
 */
export function spawnNode(name: string, script: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; startTimeoutMs?: number; dir?: () => void } = {}): Promise<ServerProc> {
  if (!fs.existsSync(script)) return Promise.reject(new Error(`${name}: ${script} not found (run the build first)`));
  const child = spawn(process.execPath, [script, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: cleanEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const t: Tracked = { child };
  tracked.add(t);
  let out = '';
  const onData = (d: Buffer) => {
    out += d.toString();
    if (out.length > OUTPUT_TAIL_BYTES * 2) out = out.slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const removeDir = opts.dir;
  const stop = async (graceMs = 10_000) => {
    await stopChild(child, graceMs);
    tracked.delete(t);
    removeDir?.();
  };
  return new Promise<ServerProc>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop(1000).then(() => reject(err));
    };
    const timer = setTimeout(() => fail(new Error(`${name} did not start within ${opts.startTimeoutMs ?? 20_000} ms:\n${out}`)), opts.startTimeoutMs ?? 20_000);
    const check = () => {
      if (settled) return;
      const m = LISTEN_RE.exec(out);
      if (!m) return;
      settled = true;
      clearTimeout(timer);
      const port = Number(m[1]);
      resolve({ name, pid: child.pid!, url: `http://127.0.0.1:${port}`, port, child, output: () => out.slice(-OUTPUT_TAIL_BYTES), stop });
    };
    child.stderr!.on('data', check);
    child.stdout!.on('data', check);
    child.once('error', (err) => fail(err));
    child.once('exit', (code, signal) => fail(new Error(`${name} exited (code ${code}, signal ${signal}) before listening:\n${out}`)));
  });
}

/**
 * koor-server from dist on an ephemeral loopback port with a fresh temp data dir, dashboard off,
 * no KOOR_* env, cwd = the data dir (so no stray ./settings.json is read). stop() removes the dir.
 */
export async function spawnKoor(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}, main?: string): Promise<ServerProc & { dataDir: string }> {
  const tmp = makeTempDir('koor-bench-');
  try {
    // KOOR_BENCH_SERVER: another build's dist/src/main.js, to measure it under the same harness.
    const p = await spawnNode('koor-server', main ?? (process.env.KOOR_BENCH_SERVER || KOOR_MAIN_JS), ['--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', tmp.dir, ...extraArgs], {
      cwd: tmp.dir,
      env,
      dir: tmp.remove,
    });
    return { ...p, dataDir: tmp.dir };
  } catch (e) {
    tmp.remove();
    throw e;
  }
}

/** A compiled helper in dist/bench (e.g. 'baseline-uws.js') as its own process. */
export function spawnBenchScript(name: string, file: string, args: string[] = []): Promise<ServerProc> {
  return spawnNode(name, path.join(BENCH_DIST_DIR, file), args);
}

/** The environment of a child the bench talks to through its inspector (loopback, a port of its own). */
export const INSPECT_ENV: NodeJS.ProcessEnv = { NODE_OPTIONS: '--inspect=127.0.0.1:0' };

/** The inspector's WebSocket URL a child started with INSPECT_ENV printed (`Debugger listening on …`); null if none. Read it at start: the output kept is a tail. */
export function inspectorUrl(proc: ServerProc): string | null {
  return /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(proc.output())?.[1] ?? null;
}

/** A DevTools protocol session with a process's main thread, through its inspector. */
export class Inspector {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void; method: string }>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (m) => {
      const msg = JSON.parse(String(m)) as { id?: number; result?: unknown; error?: { message: string } };
      const w = msg.id === undefined ? undefined : this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id!);
      if (msg.error) w.reject(new Error(`${w.method}: ${msg.error.message}`));
      else w.resolve(msg.result);
    });
    // A call never answered fails with the socket, rather than waiting for ever.
    const fail = (why: string) => {
      for (const w of this.waiting.values()) w.reject(new Error(`${w.method}: ${why}`));
      this.waiting.clear();
    };
    ws.on('error', (e) => fail(e.message));
    ws.on('close', () => fail('inspector connection closed'));
  }

  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (r: unknown) => void, reject, method });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Pins every thread of process `pid` to `cpu` (taskset); false when taskset is unavailable. */
export function pin(pid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore', timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting (/proc; Linux only, empty elsewhere)

let clkTck = 0;
function ticksPerSecond(): number {
  if (clkTck === 0) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime and stime of a /proc stat file, seconds; null if unreadable. */
function statCpu(file: string): CpuSample | null {
  try {
    const s = fs.readFileSync(file, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const tck = ticksPerSecond();
    return { user: Number(f[11]) / tck, sys: Number(f[12]) / tck, comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), ppid: Number(f[1]) };
  } catch {
    return null;
  }
}

export interface CpuSample {
  user: number;
  sys: number;
  comm: string;
  ppid: number;
}

export interface ProcCpuSnap {
  total: CpuSample | null;
  threads: Map<number, CpuSample>;
  io: ProcIo | null;
}

/** /proc/<pid>/io: bytes handed to write(2)/pwrite(2) (wchar) and sent to storage (write_bytes). */
export interface ProcIo {
  wchar: number;
  syscw: number;
  write_bytes: number;
}

function procIo(pid: number): ProcIo | null {
  try {
    const kv = Object.fromEntries(
      fs
        .readFileSync(`/proc/${pid}/io`, 'utf8')
        .split('\n')
        .map((l) => l.split(': '))
        .filter((x) => x.length === 2)
        .map(([k, v]) => [k!, Number(v)]),
    );
    return { wchar: kv.wchar ?? 0, syscw: kv.syscw ?? 0, write_bytes: kv.write_bytes ?? 0 };
  } catch {
    return null;
  }
}

export function procCpu(pid: number): ProcCpuSnap {
  const threads = new Map<number, CpuSample>();
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const cpu = statCpu(`/proc/${pid}/task/${tid}/stat`);
      if (cpu !== null) threads.set(Number(tid), cpu);
    }
  } catch {
    /* not Linux or process gone */
  }
  return { total: statCpu(`/proc/${pid}/stat`), threads, io: procIo(pid) };
}

/** CPU of every process on the machine (pid → sample). */
export function allProcs(): Map<number, CpuSample> {
  const m = new Map<number, CpuSample>();
  let names: string[] = [];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return m;
  }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const c = statCpu(`/proc/${n}/stat`);
    if (c) m.set(Number(n), c);
  }
  return m;
}

/** Busy (without steal), steal and total seconds of the whole machine (/proc/stat "cpu" line). */
function systemCpu(): { busy: number; steal: number; total: number } | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const steal = v[7] ?? 0;
    const tck = ticksPerSecond();
    return { busy: (total - idle - steal) / tck, steal: steal / tck, total: total / tck };
  } catch {
    return null;
  }
}

/** Linux PSI `total=` counters (µs stalled) of cpu and io, "some" and "full" lines. */
function pressure(): Record<string, number> | null {
  const out: Record<string, number> = {};
  try {
    for (const res of ['cpu', 'io']) {
      for (const line of fs.readFileSync(`/proc/pressure/${res}`, 'utf8').split('\n')) {
        const m = /^(some|full) .*total=(\d+)/.exec(line);
        if (m) out[`${res}_${m[1]}`] = Number(m[2]);
      }
    }
    return out;
  } catch {
    return null;
  }
}

export interface CpuUse {
  /** CPU seconds used during the window (user + system). */
  cpu_s: number;
  /** cpu_s / wall seconds: 1.0 = one core fully busy. */
  cores: number;
  user_cores: number;
  sys_cores: number;
}

export interface ProcCpuUse extends CpuUse {
  /** I/O during the window (all threads), null where /proc/<pid>/io is unreadable. */
  io: ProcIo | null;
  /** Busiest threads (main: tid == pid, the JS main thread), cores each. */
  threads: Array<{ tid: number; comm: string; main: boolean; cores: number; user_cores: number; sys_cores: number }>;
}

export interface CpuReport {
  wall_s: number;
  /** This process (autocannon + bench code). */
  loadgen: CpuUse;
  procs: Record<string, ProcCpuUse>;
  /** Whole machine: busy cores (any process or kernel thread) out of `cores`; steal = taken by the hypervisor. */
  system: { busy_cores: number; steal_cores: number; cores: number } | null;
  /**
   * CPU used meanwhile by anything but this process, `procs` and kernel threads: other work on
   * a shared machine, which contaminates the figures. `cores` = the larger of `seen_cores`
   * (processes alive at both ends, listed in `top`) and machine busy minus everything
   * accounted for (this also catches processes that started and exited within the window).
   * Kernel threads (I/O flush: partly our own fsyncs) are apart in `kernel_cores`.
   */
  others: { cores: number; seen_cores: number; kernel_cores: number; top: Array<{ pid: number; comm: string; cores: number; kernel: boolean }> };
  /**
   * Share of the window (%) in which some / all runnable tasks were stalled on CPU or I/O
   * (Linux PSI). High io_* during durable writes means the disk, not the CPU, set the pace.
   */
  pressure_pct: Record<string, number> | null;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Starts a CPU window over this process, the named pids, every other process and the machine. */
export function cpuWindow(pids: Record<string, number>): () => CpuReport {
  const t0 = process.hrtime.bigint();
  const self0 = process.cpuUsage();
  const sys0 = systemCpu();
  const all0 = allProcs();
  const psi0 = pressure();
  const snaps0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procCpu(pid)]));
  return () => {
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const self = process.cpuUsage(self0);
    const sys1 = systemCpu();
    const all1 = allProcs();
    const psi1 = pressure();
    const psi = psi0 && psi1 ? Object.fromEntries(Object.keys(psi1).map((k) => [k, Math.round(((psi1[k]! - (psi0[k] ?? 0)) / 1e6 / wall) * 1000) / 10])) : null;
    const procs: Record<string, ProcCpuUse> = {};
    for (const [k, pid] of Object.entries(pids)) {
      const a = snaps0[k]!;
      const b = procCpu(pid);
      if (a.total === null || b.total === null) continue;
      const threads = [...b.threads]
        .map(([tid, t]) => {
          const t0 = a.threads.get(tid);
          const user = t.user - (t0?.user ?? 0);
          const sys = t.sys - (t0?.sys ?? 0);
          return { tid, comm: t.comm, main: tid === pid, cores: r3((user + sys) / wall), user_cores: r3(user / wall), sys_cores: r3(sys / wall) };
        })
        .filter((t) => t.cores > 0.005)
        .sort((x, y) => y.cores - x.cores)
        .slice(0, 6);
      const user = b.total.user - a.total.user;
      const sys = b.total.sys - a.total.sys;
      const io = a.io && b.io ? { wchar: b.io.wchar - a.io.wchar, syscw: b.io.syscw - a.io.syscw, write_bytes: b.io.write_bytes - a.io.write_bytes } : null;
      procs[k] = { cpu_s: r3(user + sys), cores: r3((user + sys) / wall), user_cores: r3(user / wall), sys_cores: r3(sys / wall), io, threads };
    }
    const mine = new Set([process.pid, ...Object.values(pids)]);
    const others: Array<{ pid: number; comm: string; cores: number; kernel: boolean }> = [];
    let otherS = 0;
    let kernelS = 0;
    for (const [pid, c1] of all1) {
      if (mine.has(pid)) continue;
      const c0 = all0.get(pid);
      const s = c1.user + c1.sys - (c0 ? c0.user + c0.sys : 0);
      if (s <= 0) continue;
      const kernel = pid === 2 || c1.ppid === 2;
      if (kernel) kernelS += s;
      else otherS += s;
      others.push({ pid, comm: c1.comm, cores: r3(s / wall), kernel });
    }
    others.sort((x, y) => y.cores - x.cores);
    const user = self.user / 1e6;
    const sys = self.system / 1e6;
    const busy = sys0 && sys1 ? (sys1.busy - sys0.busy) / wall : null;
    const ours = (user + sys) / wall + Object.values(procs).reduce((a, p) => a + p.cores, 0) + kernelS / wall;
    const unseen = busy === null ? 0 : Math.max(0, busy - ours);
    return {
      wall_s: r3(wall),
      loadgen: { cpu_s: r3(user + sys), cores: r3((user + sys) / wall), user_cores: r3(user / wall), sys_cores: r3(sys / wall) },
      procs,
      system: sys0 && sys1 && busy !== null ? { busy_cores: r3(busy), steal_cores: r3((sys1.steal - sys0.steal) / wall), cores: os.availableParallelism() } : null,
      others: { cores: r3(Math.max(otherS / wall, unseen)), seen_cores: r3(otherS / wall), kernel_cores: r3(kernelS / wall), top: others.filter((o) => o.cores >= 0.01).slice(0, 5) },
      pressure_pct: psi,
    };
  };
}

// ---------------------------------------------------------------------------------------------
// Latency histogram (1 µs resolution up to ~1 s, exact overflow list above)

const HIST_BINS = 1 << 20; // µs

export class LatencyHistogram {
  private readonly bins = new Uint32Array(HIST_BINS);
  private readonly overflow: number[] = [];
  private overflowDropped = 0;
  count = 0;
  private sum = 0;
  private maxUs = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const us = Math.round(ms * 1000);
    this.count++;
    this.sum += us;
    if (us > this.maxUs) this.maxUs = us;
    if (us < HIST_BINS) this.bins[us < 0 ? 0 : us]!++;
    else if (this.overflow.length < 100_000) this.overflow.push(us);
    else this.overflowDropped++;
  }

  /** Percentile p (0..100) in ms, or null when empty. */
  percentile(p: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < HIST_BINS; i++) {
      seen += this.bins[i]!;
      if (seen >= rank) return i / 1000;
    }
    const sorted = [...this.overflow].sort((a, b) => a - b);
    const idx = Math.min(sorted.length - 1, rank - seen - 1);
    return (idx >= 0 ? sorted[idx]! : this.maxUs) / 1000;
  }

  summary(): LatencySummary {
    const r = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
    return {
      p50: r(this.percentile(50)),
      p90: r(this.percentile(90)),
      p99: r(this.percentile(99)),
      p99_9: r(this.percentile(99.9)),
      max: r(this.count ? this.maxUs / 1000 : null),
      mean: r(this.count ? this.sum / this.count / 1000 : null),
    };
  }
}

export interface LatencySummary {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p99_9: number | null;
  max: number | null;
  mean: number | null;
}

// ---------------------------------------------------------------------------------------------
// Load generation (autocannon, programmatic, in this process)

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

// ---------------------------------------------------------------------------------------------
// Formatting

/** 12345.6 → "12,346" */
export const fmtInt = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US'));

/** Milliseconds with 3 significant digits: 0.0123 → "0.0123", 1.234 → "1.23", 45.67 → "45.7". */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms === 0) return '0';
  return ms >= 100 ? String(Math.round(ms)) : String(Number(ms.toPrecision(3)));
}

/** a/b rounded to 2 decimals (null when b is 0). */
export const ratio = (a: number, b: number): number | null => (b > 0 ? Math.round((a / b) * 100) / 100 : null);

/** The middle value (the mean of the middle two of an even count); NaN of none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const fmtRatio = (r: number | null | undefined): string => (r === null || r === undefined ? '-' : `${r.toFixed(2)}x`);

export const fmtCores = (c: number | null | undefined): string => (c === null || c === undefined ? '-' : c.toFixed(2));

/** Plain-text table with right-aligned numeric-looking cells. */
export function renderTable(t: BenchTable): string {
  const cells = [t.columns, ...t.rows.map((r) => r.map((c) => String(c)))];
  const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = /^[-+]?[\d,.]+(x|%| ms)?$|^-$/;
  const line = (r: string[]) =>
    r
      .map((c, i) => (i > 0 && numeric.test(c) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [t.title, line(cells[0]!), sep, ...cells.slice(1).map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// wrk: a C load generator that is not the limit, pinned to its own core

/** Whether `cmd` is on the PATH. */
export function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore', timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}

export interface Wrk {
  rps: number;
  requests: number;
  /** CPU of the server per request, µs: its main thread, and all its other threads (writer, GC, delivery). */
  main_us?: number;
  other_us?: number;
  p50_ms: number | null;
  p99_ms: number | null;
  non2xx: number;
}

const unitMs = (v: string, u: string): number => Number(v) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[u]!;

/** One wrk run on core 1 (one thread, `connections`); parses requests/s, p50/p99 and non-2xx/3xx replies. */
export function wrk(url: string, script: string, durationS: number, connections: number): Wrk {
  const out = execFileSync('taskset', ['-c', '1', 'wrk', '-t1', `-c${connections}`, `-d${durationS}s`, '--latency', '-s', script, url], {
    encoding: 'utf8',
    timeout: (durationS + 30) * 1000,
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const pct = (p: string): number | null => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)$`, 'm').exec(out);
    return m ? Math.round(unitMs(m[1]!, m[2]!) * 1000) / 1000 : null;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  return { rps: Math.round(rps), requests, p50_ms: pct('50'), p99_ms: pct('99'), non2xx };
}

/** wrk against `pid`'s server, with the server's CPU per request split main thread / the rest. */
export function wrkCpu(pid: number, url: string, script: string, durationS: number, connections: number): Wrk {
  const a = procCpu(pid);
  const r = wrk(url, script, durationS, connections);
  const b = procCpu(pid);
  let main = 0;
  let other = 0;
  for (const [tid, t] of b.threads) {
    const t0 = a.threads.get(tid);
    const s = t.user + t.sys - (t0 ? t0.user + t0.sys : 0);
    if (tid === pid) main += s;
    else other += s;
  }
  const us = (sec: number) => (r.requests > 0 ? Math.round((sec / r.requests) * 1e7) / 10 : 0);
  return { ...r, main_us: us(main), other_us: us(other) };
}

/** A wrk Lua script in `dir`: fixed method/headers/body, or requests cycling over `keys` paths `cycleKeys<n>`. */
export function wrkScript(dir: string, name: string, opts: { method: string; path?: string; headers: Record<string, string>; body?: string; cycleKeys?: string; keys?: number }): string {
  const lines = [`wrk.method = "${opts.method}"`];
  for (const [k, v] of Object.entries(opts.headers)) lines.push(`wrk.headers["${k}"] = ${JSON.stringify(v)}`);
  if (opts.body !== undefined) lines.push(`wrk.body = ${JSON.stringify(opts.body)}`);
  if (opts.path) lines.push(`wrk.path = "${opts.path}"`);
  if (opts.cycleKeys) lines.push('local n = 0', `request = function() n = (n + 1) % ${opts.keys ?? 1000}; return wrk.format(nil, "${opts.cycleKeys}" .. n) end`);
  const file = path.join(dir, `${name}.lua`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** A loopback port free right now (for servers that must be told their port up front). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
