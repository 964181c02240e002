/**
 * CPU accounting (/proc; Linux only, empty elsewhere): per process and thread, the whole machine,
 * other processes, pressure stalls; `cpuWindow()` measures all of it over a window.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

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

/** CPU seconds (user + system) of servers' main threads, of their other threads, and of other processes (PostgreSQL's). */
export interface CpuSplit {
  main: number;
  threads: number;
  children: number;
}

/** `pids`' CPU so far (their other threads: the process's whole less its main thread's, so threads that ended count too), and `parents`' with their children's. */
export function cpuSplit(pids: number[], parents: number[] = []): CpuSplit {
  const s: CpuSplit = { main: 0, threads: 0, children: 0 };
  for (const pid of pids) {
    const p = procCpu(pid);
    const main = p.threads.get(pid);
    const mainS = main ? main.user + main.sys : 0;
    s.main += mainS;
    if (p.total) s.threads += p.total.user + p.total.sys - mainS;
  }
  if (parents.length > 0) for (const [pid, c] of allProcs()) if (parents.includes(c.ppid) || parents.includes(pid)) s.children += c.user + c.sys;
  return s;
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

/**
 * The CPU `pid`'s threads spend from now on, per request, µs: its main thread and all its other
 * threads (writer, GC, delivery). Call the returned function with the requests served since.
 */
export function threadCpuPerRequest(pid: number): (requests: number) => { main_us: number; other_us: number } {
  const a = procCpu(pid);
  return (requests) => {
    const b = procCpu(pid);
    let main = 0;
    let other = 0;
    for (const [tid, t] of b.threads) {
      const t0 = a.threads.get(tid);
      const s = t.user + t.sys - (t0 ? t0.user + t0.sys : 0);
      if (tid === pid) main += s;
      else other += s;
    }
    const us = (sec: number) => (requests > 0 ? Math.round((sec / requests) * 1e7) / 10 : 0);
    return { main_us: us(main), other_us: us(other) };
  };
}
