/**
 * What a hook costs a coding agent per tool call: the time from the client starting its hook to the
 * hook's exit (command hooks) or to the reply (HTTP hooks), against a no-op hook of the same kind
 * started the same way, in the same run. koor-server with its defaults pinned to core 0; the
 * driver (a bash loop, timing with $EPOCHREALTIME as a client's spawn would) on core 1.
 *
 *   no-op           bash -c 'cat > /dev/null'            what any command hook costs
 *   koor-hook       bash -c 'koor-hook <client>'         what init installs: the resident helper answers
 *   koor-cli hook   bash -c 'koor-cli hook <client>'     the Node bridge koor-hook falls back to
 *   HTTP            POST /api/hooks/claude-code          a Claude Code (or Copilot) HTTP hook, a new connection each
 *   HTTP no-op      GET /health                          the same round trip to a route that does nothing
 *
 * Each call is a PreToolUse edit of a file the session already holds (the commonest hook: a read
 * on the server, no write), in each client's own protocol (Gemini BeforeTool, Codex and Copilot
 * PreToolUse); the rows take turns, call by call, so that the machine's noise falls on all alike.
 * Goals: ≤ 15 ms p50 added for a command hook (koor-hook), ≤ 5 ms for an HTTP hook.
 *
 *   npm run bench -- hook-start [--quick]     (~10 s quick, ~60 s full on a quiet machine)
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir } from '../lib/cleanup.js';
import { fmtMs, ratio } from '../lib/format.js';
import { have, pin, spawnKoor } from '../lib/processes.js';
import { REPO_ROOT, type BenchOptions, type BenchTable } from '../lib/suite.js';

const CLI_JS = path.join(REPO_ROOT, 'dist', 'cli-cjs', 'main.js');
const KOOR_HOOK = path.join(REPO_ROOT, 'dist', 'cli-cjs', 'koor-hook');
const GOAL_COMMAND_MS = 15;
const GOAL_HTTP_MS = 5;

/** Each client's PreToolUse of an edit of its own file (src/<client>.ts), as the client sends it. */
function inputs(root: string): Record<string, unknown> {
  const file = (c: string) => path.join(root, 'src', `${c}.ts`);
  return {
    gemini: { session_id: 'bench-gemini', transcript_path: '', cwd: root, hook_event_name: 'BeforeTool', timestamp: new Date().toISOString(), tool_name: 'replace', tool_input: { file_path: 'src/gemini.ts', old_string: 'a', new_string: 'b' } },
    codex: { session_id: 'bench-codex', transcript_path: null, cwd: root, hook_event_name: 'PreToolUse', model: 'gpt-5', tool_name: 'apply_patch', tool_input: { command: `*** Begin Patch\n*** Update File: src/codex.ts\n@@\n-a\n+b\n*** End Patch\n` } },
    // Copilot CLI with the PascalCase events init --copilot wires: Claude Code's shape, its own tool input.
    copilot: { session_id: 'bench-copilot', cwd: root, hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { path: file('copilot'), old_str: 'a', new_str: 'b' } },
  };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN;
};

/** One HTTP request on a new connection; its round trip, ms. */
function timedRequest(url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url, { method, agent: false, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${method} ${url}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  if (!have('taskset')) return { ok: true, skipped: 'needs taskset (apt-get install util-linux)', warnings: ['hook-start: skipped, no taskset'] };
  if (os.availableParallelism() < 2) return { ok: true, skipped: 'needs 2 cores (server on core 0, hooks on core 1)', warnings: ['hook-start: skipped, one core'] };
  const N = quick ? 10 : 100;
  const tmp = makeTempDir('koor-bench-hook-start-');
  pin(process.pid, 1);
  const server = await spawnKoor();
  try {
    pin(server.pid, 0);
    // A repository, and koor-cli / koor-hook on PATH as an installed package puts them.
    const root = path.join(tmp.dir, 'shop');
    fs.mkdirSync(path.join(root, 'src'), { recursive: true });
    execFileSync('git', ['init', '-q', root]);
    const bin = path.join(tmp.dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'koor-cli'), `#!/bin/sh\nKOOR_HOOK_IDLE_S=60 exec '${process.execPath}' '${CLI_JS}' "$@"\n`, { mode: 0o755 });
    fs.symlinkSync(KOOR_HOOK, path.join(bin, 'koor-hook'));
    const runtime = path.join(tmp.dir, 'run');
    fs.mkdirSync(runtime, { mode: 0o700 });
    const env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: tmp.dir, XDG_RUNTIME_DIR: runtime, KOOR_SERVER: server.url };
    const helperFile = path.join(runtime, `koor-hook-${process.getuid?.() ?? 0}-${path.join(bin, 'koor-hook').replace(/[^A-Za-z0-9]/g, '_')}`);

    const byClient = inputs(root);
    const clients = Object.keys(byClient);
    for (const c of clients) fs.writeFileSync(path.join(tmp.dir, `${c}.json`), JSON.stringify(byClient[c]));
    // The driver: for each call, each row in turn; prints `<row> <client> <µs> <stdout>` per call.
    const rows: Array<[string, string]> = [
      ['no-op', 'cat > /dev/null'],
      ['koor-hook', 'koor-hook $c'],
      ['koor-cli hook', 'koor-cli hook $c'],
    ];
    const driver = [
      'set -u',
      `for ((i = 0; i < ${N}; i++)); do`,
      `  for c in ${clients.join(' ')}; do`,
      ...rows.map(
        ([name, cmd]) =>
          `    s=$EPOCHREALTIME; out=$(bash -c "${cmd}" < "${tmp.dir}/$c.json" 2>/dev/null); e=$EPOCHREALTIME; ` +
          `echo "${name.replace(' ', '_')} $c $(( (\${e/./} - \${s/./}) )) \${out//[$'\\n ']/}"`,
      ),
      '  done',
      'done',
    ].join('\n');

    // Each session edits its file once first (it takes the lease: every measured call is an edit of a file it holds).
    log('warming up: each session takes its lease, the helper starts');
    const allowed = new Map<string, string>();
    for (const c of clients) {
      const said = execFileSync('bash', ['-c', `koor-hook ${c} < "${tmp.dir}/${c}.json"`], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 });
      allowed.set(c, said.replace(/[\n ]/g, ''));
    }
    for (let i = 0; i < 100 && !fs.existsSync(helperFile); i++) await new Promise((r) => setTimeout(r, 100));
    const leases = JSON.parse(execFileSync('curl', ['-s', `${server.url}/api/leases`], { encoding: 'utf8' })) as unknown[];
    if (leases.length !== clients.length) throw new Error(`setup: ${leases.length} leases, expected ${clients.length}`);

    log(`timing ${N} calls of each hook, per client (${clients.join(', ')})`);
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('taskset', ['-c', '1', 'bash', '-c', driver], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`driver exited ${code}`))));
    });
    const samples = new Map<string, number[]>();
    const wrong: string[] = [];
    for (const line of out.trim().split('\n')) {
      const [row, client, us, reply] = line.split(' ');
      const key = row!.replace('_', ' ');
      (samples.get(key) ?? samples.set(key, []).get(key)!).push(Number(us) / 1000);
      // Every hook allowed the edit of the session's own file, as it allowed its first edit.
      if (key !== 'no-op' && (reply ?? '') !== allowed.get(client!)) wrong.push(`${key} ${client}: ${reply}`);
    }

    log(`timing ${N * clients.length} HTTP hooks against as many GET /health`);
    const httpHook: number[] = [];
    const httpNoop: number[] = [];
    const claude = JSON.stringify({ session_id: 'bench-claude', transcript_path: '', cwd: root, hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { file_path: path.join(root, 'src', 'claude.ts'), old_string: 'a', new_string: 'b' } });
    const headers = { 'x-koor-repo-root': root, 'x-koor-project': 'shop' };
    await timedRequest(`${server.url}/api/hooks/claude-code`, 'POST', claude, headers);
    for (let i = 0; i < N * clients.length; i++) {
      httpHook.push(await timedRequest(`${server.url}/api/hooks/claude-code`, 'POST', claude, headers));
      httpNoop.push(await timedRequest(`${server.url}/health`, 'GET'));
    }
    samples.set('HTTP', httpHook);
    samples.set('HTTP no-op', httpNoop);

    const p50 = (k: string) => pct(samples.get(k)!, 0.5);
    const added = {
      'koor-hook': p50('koor-hook') - p50('no-op'),
      'koor-cli hook': p50('koor-cli hook') - p50('no-op'),
      HTTP: p50('HTTP') - p50('HTTP no-op'),
    };
    const table: BenchTable = {
      title: `One hook call as the agent waits for it (${N} calls per client, ${clients.join(', ')}; the rows in turn, same run)`,
      columns: ['hook', 'p50', 'p99', 'added p50', 'goal'],
      rows: [...samples.keys()].map((k) => [
        k,
        fmtMs(p50(k)),
        fmtMs(pct(samples.get(k)!, 0.99)),
        k in added ? fmtMs(added[k as keyof typeof added]) : '',
        k === 'koor-hook' ? `≤ ${GOAL_COMMAND_MS} ms` : k === 'HTTP' ? `≤ ${GOAL_HTTP_MS} ms` : '',
      ]),
    };
    const goals = { command: added['koor-hook'] <= GOAL_COMMAND_MS, http: added.HTTP <= GOAL_HTTP_MS };
    const warnings = [...wrong.slice(0, 5).map((w) => `hook-start: unexpected reply ${w}`)];
    if (!goals.command) warnings.push(`hook-start: koor-hook adds ${added['koor-hook'].toFixed(1)} ms p50, goal ≤ ${GOAL_COMMAND_MS} ms`);
    if (!goals.http) warnings.push(`hook-start: an HTTP hook adds ${added.HTTP.toFixed(1)} ms p50, goal ≤ ${GOAL_HTTP_MS} ms`);
    return {
      ok: wrong.length === 0,
      calls_per_row: N * clients.length,
      p50_ms: Object.fromEntries([...samples.keys()].map((k) => [k, Math.round(p50(k) * 100) / 100])),
      p99_ms: Object.fromEntries([...samples.keys()].map((k) => [k, Math.round(pct(samples.get(k)!, 0.99) * 100) / 100])),
      added_p50_ms: Object.fromEntries(Object.entries(added).map(([k, v]) => [k, Math.round(v * 100) / 100])),
      koor_hook_vs_koor_cli: ratio(added['koor-hook'], added['koor-cli hook']),
      goals,
      tables: [table],
      warnings,
    };
  } finally {
    await server.stop();
    try {
      const pid = Number(fs.readFileSync(path.join(tmp.dir, 'run', fs.readdirSync(path.join(tmp.dir, 'run'))[0] ?? 'none'), 'utf8').split(' ')[3]);
      if (pid > 1) process.kill(pid, 'SIGKILL');
    } catch {
      // no helper left
    }
    tmp.remove();
  }
}
