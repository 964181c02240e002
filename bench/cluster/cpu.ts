/**
 * CPU accounting of the cluster suite over a window: the koor nodes, PostgreSQL (postmaster and
 * backends), the generators, each core, and the unrelated processes that disturb a run (a
 * disturbed run is measured again: cleanest()).
 */
import fs from 'node:fs';
import { allProcs, procCpu } from '../lib/cpu.js';
import { postgresCpu } from '../lib/postgres.js';

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

export interface CpuFigures {
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
export function cpuSpan(nodePids: number[], pgPid: number | null): (wrkCpuS?: number, activeS?: number) => CpuFigures {
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
export const DISTURBED_CORES = 0.1;

/** Runs `fn` up to `attempts` times until a run is undisturbed; keeps the least disturbed. */
export async function cleanest<T extends { cpu: CpuFigures }>(what: string, attempts: number, log: (m: string) => void, fn: (attempt: number) => Promise<T>): Promise<T & { attempts: number }> {
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
