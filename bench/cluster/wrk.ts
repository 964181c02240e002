/**
 * wrk for the cluster suite: one process per node, all at once, each printing its latency
 * distribution (1000 equal shares of its requests) so that the processes' percentiles can be merged.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { GEN_CORE } from './configs.js';

const execFileAsync = promisify(execFile);

export interface WrkOut {
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
export function wrkLua(dir: string, name: string, o: { method: string; prefix?: string; path?: string; keys?: number; headers: Record<string, string>; body?: string }): string {
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

export async function wrkAsync(url: string, script: string, durationS: number, connections: number): Promise<WrkOut> {
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
export function mergedPercentile(runs: WrkOut[], p: number): number | null {
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
