/**
 * CLI start-up benchmark. Agents run koor-cli hundreds of times a session, so its start-up is a
 * feature. Measures the wall time of `koor-cli status` (a full round trip to a real koor-server
 * spawned from dist on an ephemeral port) against `node -e 0` (what any Node program pays),
 * interleaved run by run so both see the same machine. Goal: status ≤ 1.5× node -e 0 (median),
 * in a clean environment (PATH and HOME only).
 *
 * For context it also runs, in the same rotation:
 *   - `state get` (a typical data command) and `--help` (the clipanion path, every command module);
 *   - a floor: a one-file ES module doing the same GET /health on a raw socket, i.e. the least an
 *     ESM Node program can do for this job (the ESM loader alone costs a few ms over `-e 0`);
 *   - node -e 0 and status again in the inherited environment, when it holds NODE_* variables
 *     (NODE_EXTRA_CA_CERTS, for one, makes every node start load a CA bundle).
 * Wall times include waiting for a CPU on a loaded machine, so per-run CPU time (user + system,
 * from /proc/self/stat of this process's waited-for children) is reported too.
 *
 *   npm run bench -- cli [--quick]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmtMs, fmtRatio, median, ratio } from '../lib/format.js';
import { spawnKoor } from '../lib/processes.js';
import { REPO_ROOT, type BenchOptions, type BenchTable } from '../lib/suite.js';

const CLI_JS = path.join(REPO_ROOT, 'dist', 'cli-cjs', 'main.js');
const RUNS = { quick: 10, full: 30 };
const WARMUP_RUNS = 3;
const RATIO_GOAL = 1.5;
/** One child run may not take longer than this, ms. */
const RUN_TIMEOUT_MS = 10_000;

/** The floor: GET /health on a raw socket from a one-file ES module, body to stdout. */
const FLOOR_MJS = `import net from 'node:net';
const u = new URL(process.env.KOOR_SERVER + '/health');
const s = net.connect(Number(u.port), u.hostname);
s.write('GET /health HTTP/1.1\\r\\nHost: ' + u.host + '\\r\\nConnection: close\\r\\n\\r\\n');
const c = [];
s.on('data', (d) => c.push(d));
s.on('end', () => { const b = Buffer.concat(c); process.stdout.write(b.subarray(b.indexOf('\\r\\n\\r\\n') + 4)); });
`;

interface Case {
  name: string;
  args: string[];
  env: 'clean' | 'inherited';
  /** A check of the output, so a broken run cannot look fast. */
  check: (stdout: string, stderr: string) => boolean;
}

interface Stats {
  runs: number;
  median_ms: number;
  mean_ms: number;
  min_ms: number;
  p90_ms: number;
  cpu_mean_ms: number | null;
}

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** CPU ms (user + system) of this process's waited-for children so far, or null off Linux. 10 ms ticks: only means over many runs are meaningful. */
function childrenCpuMs(tick: number): number | null {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[13]) + Number(f[14])) * 1000) / tick;
  } catch {
    return null;
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function stats(wall: number[], cpu: number[]): Stats {
  const s = [...wall].sort((a, b) => a - b);
  return {
    runs: s.length,
    median_ms: round2(median(s)),
    mean_ms: round2(s.reduce((a, b) => a + b, 0) / s.length),
    min_ms: round2(s[0]!),
    p90_ms: round2(s[Math.min(s.length - 1, Math.floor(0.9 * s.length))]!),
    cpu_mean_ms: cpu.length === wall.length ? Math.round((cpu.reduce((a, b) => a + b, 0) / cpu.length) * 10) / 10 : null,
  };
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const server = await spawnKoor();
  try {
    const put = await fetch(`${server.url}/api/state/bench/cli`, { method: 'PUT', body: '{"hello":"world"}' });
    if (put.status !== 200) throw new Error(`seeding state failed: HTTP ${put.status}`);
    const floorJs = path.join(server.dataDir, 'floor.mjs');
    fs.writeFileSync(floorJs, FLOOR_MJS);

    const envs = {
      clean: { PATH: process.env.PATH, HOME: process.env.HOME, KOOR_SERVER: server.url } as NodeJS.ProcessEnv,
      inherited: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KOOR_'))), KOOR_SERVER: server.url } as NodeJS.ProcessEnv,
    };
    const nodeVars = Object.keys(process.env).filter((k) => k.startsWith('NODE_')).sort();
    const isOk = (out: string) => out.includes('"status":"ok"');
    const cases: Case[] = [
      { name: 'node -e 0', args: ['-e', '0'], env: 'clean', check: () => true },
      { name: 'koor-cli status', args: [CLI_JS, 'status'], env: 'clean', check: isOk },
      { name: 'koor-cli state get', args: [CLI_JS, 'state', 'get', 'bench/cli'], env: 'clean', check: (out) => out === '{"hello":"world"}' },
      { name: 'koor-cli --help', args: [CLI_JS, '--help'], env: 'clean', check: (_o, err) => err.includes('koor-cli state get') },
      { name: 'floor: 1-file ESM GET /health', args: [floorJs], env: 'clean', check: isOk },
    ];
    if (nodeVars.length > 0) {
      cases.push(
        { name: `node -e 0 (inherited env)`, args: ['-e', '0'], env: 'inherited', check: () => true },
        { name: `koor-cli status (inherited env)`, args: [CLI_JS, 'status'], env: 'inherited', check: isOk },
      );
    }

    const tick = clockTicks();
    const once = (c: Case): { wall: number; cpu: number | null } => {
      const cpu0 = childrenCpuMs(tick);
      const start = process.hrtime.bigint();
      const r = spawnSync(process.execPath, c.args, { cwd: server.dataDir, env: envs[c.env], encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
      const wall = Number(process.hrtime.bigint() - start) / 1e6;
      const cpu1 = childrenCpuMs(tick);
      if (r.status !== 0 || !c.check(r.stdout, r.stderr)) throw new Error(`${c.name}: exit ${r.status} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      return { wall, cpu: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0 };
    };

    for (let i = 0; i < WARMUP_RUNS; i++) for (const c of cases) once(c);
    const runs = opts.quick ? RUNS.quick : RUNS.full;
    const loadBefore = os.loadavg()[0]!;
    opts.log(`${runs} interleaved runs of ${cases.length} commands`);
    const wall = cases.map(() => [] as number[]);
    const cpu = cases.map(() => [] as number[]);
    for (let i = 0; i < runs; i++) {
      cases.forEach((c, j) => {
        const m = once(c);
        wall[j]!.push(m.wall);
        if (m.cpu !== null) cpu[j]!.push(m.cpu);
      });
    }
    const loadAfter = os.loadavg()[0]!;
    const cores = os.availableParallelism();

    const st = cases.map((_, j) => stats(wall[j]!, cpu[j]!));
    const byName = new Map(cases.map((c, j) => [c.name, st[j]!]));
    const baseFor = (c: Case) => byName.get(c.env === 'clean' ? 'node -e 0' : 'node -e 0 (inherited env)')!;
    const cpuRatio = (a: Stats, b: Stats) => (a.cpu_mean_ms === null || b.cpu_mean_ms === null ? null : ratio(a.cpu_mean_ms, b.cpu_mean_ms));
    const base = byName.get('node -e 0')!;
    const status = byName.get('koor-cli status')!;
    const floor = byName.get('floor: 1-file ESM GET /health')!;
    const ratioMedian = ratio(status.median_ms, base.median_ms);
    const meets = ratioMedian !== null && ratioMedian <= RATIO_GOAL;

    const table: BenchTable = {
      title: `CLI start-up, wall time per run (${runs} interleaved runs after ${WARMUP_RUNS} warm-up; ratios against node -e 0 in the same env)`,
      columns: ['command', 'median ms', 'mean ms', 'min ms', 'p90 ms', 'median ratio', 'CPU ms (mean)', 'CPU ratio'],
      rows: cases.map((c, j) => {
        const s = st[j]!;
        const b = baseFor(c);
        return [c.name, fmtMs(s.median_ms), fmtMs(s.mean_ms), fmtMs(s.min_ms), fmtMs(s.p90_ms), fmtRatio(ratio(s.median_ms, b.median_ms)), fmtMs(s.cpu_mean_ms), fmtRatio(cpuRatio(s, b))];
      }),
    };
    const inheritedStatus = byName.get('koor-cli status (inherited env)');
    const result: Record<string, unknown> = {
      goal: { ratio_max: RATIO_GOAL, meets, env: 'clean (PATH, HOME)' },
      ratio_median: ratioMedian,
      ratio_mean: ratio(status.mean_ms, base.mean_ms),
      ratio_cpu_mean: cpuRatio(status, base),
      floor_ratio_median: ratio(floor.median_ms, base.median_ms),
      cli_over_floor_ms: round2(status.median_ms - floor.median_ms),
      results: Object.fromEntries(byName),
      inherited_env: inheritedStatus ? { node_vars: nodeVars, ratio_median: ratio(inheritedStatus.median_ms, byName.get('node -e 0 (inherited env)')!.median_ms) } : null,
      loadavg_1m: { before: loadBefore, after: loadAfter, cores },
      tables: [table],
      notes: [
        `koor-cli status / node -e 0 (clean env): ${fmtRatio(ratioMedian)} by median wall time, ${fmtRatio(cpuRatio(status, base))} by CPU (goal ≤ ${RATIO_GOAL}x).`,
        `The floor (a one-file ES module doing the same request) is ${fmtRatio(ratio(floor.median_ms, base.median_ms))}; koor-cli status is ${fmtMs(round2(status.median_ms - floor.median_ms))} ms above it.`,
        ...(inheritedStatus ? [`With the inherited environment (${nodeVars.join(', ')}): ${fmtRatio(ratio(inheritedStatus.median_ms, byName.get('node -e 0 (inherited env)')!.median_ms))}.`] : []),
        '--help goes through clipanion and loads every command module; the other commands take the fast path.',
      ],
    };
    const warnings: string[] = [];
    if (!meets) warnings.push(`koor-cli status is ${fmtRatio(ratioMedian)} node -e 0 in a clean env (goal ≤ ${RATIO_GOAL}x)`);
    if (Math.max(loadBefore, loadAfter) > cores) {
      warnings.push(`load average ${Math.max(loadBefore, loadAfter).toFixed(1)} on ${cores} cores: wall times include waiting for a CPU; compare the CPU columns`);
    }
    if (warnings.length > 0) result.warnings = warnings;
    return result;
  } finally {
    await server.stop();
  }
}
