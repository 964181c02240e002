/** wrk: a C load generator that is not the limit, pinned to its own core (core 1). */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { threadCpuPerRequest } from './cpu.js';

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
  const per = threadCpuPerRequest(pid);
  const r = wrk(url, script, durationS, connections);
  return { ...r, ...per(r.requests) };
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
