/**
 * wrk for the hooks suite: one thread per connection, each thread one session with one request in
 * flight, every reply checked by the script; the server's CPU per request, split main thread /
 * the rest, and the events it published.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cpuWindow, threadCpuPerRequest, type CpuReport } from '../lib/cpu.js';
import { newestEvent, SESSIONS } from './sessions.js';

/** A Lua string literal. */
export const lua = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\r/g, '\\r').replace(/\n/g, '\\n')}'`;

/**
 * The script: `requests[k]` is session k's raw request (or one request for all); `check` is a Lua
 * expression over `status` and `body` true for an expected reply. done() prints the figures and the
 * checks as one JSON line.
 */
export function wrkScript(dir: string, name: string, requests: string[], check: string): string {
  const lines = [
    `local reqs = { ${requests.map(lua).join(',\n  ')} }`,
    'local threads = {}',
    'local counter = 1',
    'function setup(thread)',
    '  thread:set("k", counter)',
    '  table.insert(threads, thread)',
    '  counter = counter + 1',
    'end',
    'function init(args)',
    '  good = 0',
    '  bad = 0',
    '  first_bad = ""',
    '  req = reqs[((k - 1) % #reqs) + 1]',
    'end',
    'function request() return req end',
    'function response(status, headers, body)',
    `  if ${check} then good = good + 1 else`,
    '    bad = bad + 1',
    '    if first_bad == "" then first_bad = status .. " " .. string.sub(body or "", 1, 200) end',
    '  end',
    'end',
    'function done(summary, latency, requests)',
    '  local good, bad, first = 0, 0, ""',
    '  for _, t in ipairs(threads) do',
    '    good = good + t:get("good")',
    '    bad = bad + t:get("bad")',
    '    if first == "" then first = t:get("first_bad") end',
    '  end',
    '  local e = summary.errors',
    '  first = string.gsub(first, "%c", " ")',
    '  first = string.gsub(first, "[^%w%s%p]", "?")',
    '  first = string.gsub(first, "[\\\\\\"]", "\'")',
    '  io.write(string.format("KOOR-WRK {\\"requests\\":%d,\\"duration_us\\":%d,\\"socket\\":%d,\\"good\\":%d,\\"bad\\":%d,\\"first_bad\\":\\"%s\\",\\"p50_us\\":%d,\\"p90_us\\":%d,\\"p99_us\\":%d,\\"max_us\\":%d}\\n",',
    '    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, good, bad, first,',
    '    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))',
    'end',
  ];
  const file = path.join(dir, `${name}.lua`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** A raw HTTP/1.1 request (wrk sends the string as is). */
export function raw(method: string, p: string, headers: Record<string, string>, body?: string): string {
  const h = { host: '127.0.0.1', ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) };
  return `${method} ${p} HTTP/1.1\r\n${Object.entries(h)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n${body ?? ''}`;
}

export interface Run {
  generator: 'wrk' | 'node';
  requests: number;
  rps: number;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  /** Replies that were not 200 with the expected body, and socket errors. */
  bad: number;
  first_bad: string;
  socket_errors: number;
  /** Server CPU per request, µs: its main thread, and all its other threads (writer, GC). */
  main_us: number;
  other_us: number;
  /** The generator's CPU (cores): wrk (through sh's `times`) or this process. */
  gen_cores: number;
  /** Events the server published during the run, per request (a deny or a message send publishes one). */
  events_per_req: number;
  cpu: CpuReport;
}


export async function wrkRun(base: string, pid: number, script: string, durationS: number): Promise<Run> {
  const e0 = await newestEvent(base);
  const stopCpu = cpuWindow({ server: pid });
  const per = threadCpuPerRequest(pid);
  // sh's `times` prints its children's CPU (wrk's) on stderr once wrk has exited.
  const r = spawnSync('sh', ['-c', 'taskset -c 1 wrk "$@"; s=$?; times >&2; exit $s', 'sh', `-t${SESSIONS}`, `-c${SESSIONS}`, `-d${durationS}s`, '-s', script, base], {
    encoding: 'utf8',
    timeout: (durationS + 30) * 1000,
  });
  const cpu = stopCpu();
  if (r.status !== 0) throw new Error(`wrk ${path.basename(script)}: exit ${r.status} ${r.signal ?? ''} ${r.error?.message ?? ''}\n${r.stdout.slice(-500)}\n${r.stderr.slice(-500)}`);
  const m = /KOOR-WRK (\{.*\})/.exec(r.stdout);
  if (!m) throw new Error(`wrk printed no figures:\n${r.stdout.slice(-800)}`);
  const j = JSON.parse(m[1]!) as { requests: number; duration_us: number; socket: number; good: number; bad: number; first_bad: string; p50_us: number; p90_us: number; p99_us: number; max_us: number };
  const { main_us, other_us } = per(j.requests);
  const t = [...r.stderr.matchAll(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/g)][1];
  const genS = t ? Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]) : 0;
  const e1 = await newestEvent(base);
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    generator: 'wrk',
    requests: j.requests,
    rps: Math.round(j.requests / (j.duration_us / 1e6)),
    p50_ms: ms(j.p50_us),
    p90_ms: ms(j.p90_us),
    p99_ms: ms(j.p99_us),
    max_ms: ms(j.max_us),
    bad: j.bad + (j.requests - j.good - j.bad),
    first_bad: j.first_bad,
    socket_errors: j.socket,
    main_us,
    other_us,
    gen_cores: Math.round((genS / cpu.wall_s) * 1000) / 1000,
    events_per_req: j.requests > 0 ? Math.round(((e1 - e0) / j.requests) * 1000) / 1000 : 0,
    cpu: withoutGenerator(cpu, genS),
  };
}

/** wrk is no process the CPU window was told of, so it counts among `others`: taken out again. */
function withoutGenerator(cpu: CpuReport, genS: number): CpuReport {
  const gen = genS / cpu.wall_s;
  return { ...cpu, others: { ...cpu.others, cores: Math.max(0, Math.round((cpu.others.cores - gen) * 1000) / 1000) } };
}
