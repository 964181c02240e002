/**
 * A hook's round trip as one more agent sees it while the team runs: a process of its own (its
 * event loop carries nothing else), one session, a hook that changes nothing (the edit of a file
 * it leases, then a shell command's PreToolUse) every PROBE_EVERY_MS for the measured window. The
 * team's own round trips include the load generator's queueing: at 1,000 agents its one event
 * loop answers the server's replies in bursts (its delay p99.9 ~10 ms), and its hooks' p99 was
 * 22–50 ms where this probe's, the same minute, was 5.6. It shares the load generator's core, so
 * what it measures is not flattered. Its hooks add ~2 ms of the server's CPU a second.
 *
 *   node dist/bench/scale/probe.js <base URL> <seconds> <session index>   prints its summary as JSON
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hookInput, shellInput } from '../hooks/sessions.js';
import { LatencyHistogram, type LatencySummary } from '../lib/latency.js';
import { LeanHttp } from '../lib/lean-http.js';

/** One probe hook every this many ms: 40 a second, ~1,200 in a 30 s window. */
const PROBE_EVERY_MS = 25;
const ROOT = '/bench/shop';

export type ProbeResult = LatencySummary & { count: number };

/** Runs the probe in a process of its own on `core` for `seconds` against `base`; its summary, or why it failed. */
export function probeBeside(base: string, seconds: number, k: number, core: number): Promise<ProbeResult | { failed: string }> {
  return new Promise((resolve) => {
    const child = spawn('taskset', ['-c', String(core), process.execPath, fileURLToPath(import.meta.url), base, String(seconds), String(k)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => resolve({ failed: e.message }));
    child.on('exit', (code) => {
      try {
        if (code === 0) return resolve(JSON.parse(out) as ProbeResult);
      } catch {
        // below
      }
      resolve({ failed: `probe exited ${code}: ${(err || out).trim().slice(-300)}` });
    });
  });
}

async function main(base: string, seconds: number, k: number): Promise<void> {
  const lean = new LeanHttp();
  const sid = `9a0be000-0000-4000-8000-${String(k).padStart(12, '0')}`;
  const headers = { 'content-type': 'application/json', 'x-koor-agent-name': `scale-probe-${k}`, 'x-koor-repo-root': ROOT };
  const post = async (input: Record<string, unknown>): Promise<string> => {
    const r = await lean.request(base, 'POST', '/api/hooks/claude-code', JSON.stringify(input), headers);
    if (r.status !== 200) throw new Error(`${String(input.hook_event_name)}: ${r.status} ${r.text.slice(0, 200)}`);
    return r.text;
  };
  // A file of its own: an earlier step's probe may hold its file until the lease's idle lifetime ends.
  const file = `src/probe/${k}.ts`;
  const edit = hookInput('PreToolUse', sid, file);
  const shell = shellInput('PreToolUse', sid, 'ls', 'list');
  // Bound, its file leased, the news of the others' joins read: from then on its hooks change nothing.
  const end = performance.now() + seconds * 1000;
  await post(hookInput('SessionStart', sid));
  await post(edit);
  await post(hookInput('PostToolUse', sid, file));
  for (let i = 0; (await post(hookInput('UserPromptSubmit', sid))).trim() !== '{}'; i++) if (i === 50) throw new Error('still news after 50 turns');
  const latency = new LatencyHistogram();
  for (let i = 0; performance.now() < end; i++) {
    const t0 = performance.now();
    const text = await post(i % 2 === 0 ? edit : shell);
    latency.record(performance.now() - t0);
    if (text.trim() !== '{}') throw new Error(`a hook that changes nothing answered ${text.slice(0, 200)}`);
    const left = PROBE_EVERY_MS - (performance.now() - t0);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  }
  await post(hookInput('SessionEnd', sid));
  // Its kept-alive socket would hold the process open (a pipe's write is synchronous on Linux).
  process.stdout.write(JSON.stringify({ ...latency.summary(), count: latency.count }));
  process.exit(0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])).catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
