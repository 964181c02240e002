/**
 * Benchmark runner:  node dist/bench/run.js [suite ...] [--quick]
 *                    npm run bench -- events --quick
 *
 * Default suite: http. A suite is bench/suites/<suite>.ts exporting `run(opts: BenchOptions)` (see
 * bench/lib/suite.ts): every module of bench/suites is one, found there by its place. Progress goes
 * to stderr, a human summary to stdout, and the result (plus run metadata) to
 * bench/results/<suite>.json.
 *
 * Exit codes: 0 ok; 1 a suite failed, timed out or reported ok:false; 2 usage / unknown suite.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { withTimeout } from './lib/async.js';
import { cleanupAll, cleanupAllSync } from './lib/cleanup.js';
import { renderTable } from './lib/format.js';
import { REPO_ROOT, RESULTS_DIR, SUITES_DIST_DIR, type BenchOptions, type BenchTable, type Suite } from './lib/suite.js';

/** Hard wall-clock limit of one suite, ms (a suite may export its own `timeoutMs: {quick, full}`). */
const SUITE_TIMEOUT_MS = { quick: 300_000, full: 900_000 };

const USAGE = 'usage: node dist/bench/run.js [suite ...] [--quick]   (npm run bench -- [suite ...] [--quick])';

function availableSuites(): string[] {
  return fs
    .readdirSync(SUITES_DIST_DIR)
    .filter((f) => f.endsWith('.js'))
    .map((f) => f.slice(0, -3))
    .sort();
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Filesystem type of the dir the servers' temp data dirs go to (durability means little on tmpfs). */
function fsTypeOf(dir: string): string | null {
  try {
    const real = fs.realpathSync(dir);
    let best = '';
    let type: string | null = null;
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, mnt, fstype] = line.split(' ');
      if (!mnt || !fstype) continue;
      if ((real === mnt || real.startsWith(mnt.endsWith('/') ? mnt : `${mnt}/`)) && mnt.length > best.length) {
        best = mnt;
        type = fstype;
      }
    }
    return type;
  } catch {
    return null;
  }
}

function metadata(quick: boolean) {
  const cpus = os.cpus();
  const status = git(['status', '--porcelain']);
  const tmp = process.env.KOOR_BENCH_TMP || os.tmpdir();
  return {
    date: new Date().toISOString(),
    quick,
    node: process.version,
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: status === null ? null : status !== '',
    cpu: { count: os.availableParallelism(), model: cpus[0]?.model ?? null },
    memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()}`,
    loadavg_before: os.loadavg().map((x) => Math.round(x * 100) / 100),
    tmp_dir: tmp,
    tmp_fs: fsTypeOf(tmp),
  };
}

/** Prints what a suite returned: its tables, notes, failed checks and warnings, else its scalar fields. */
function printSummary(name: string, result: Record<string, unknown>): void {
  const out: string[] = [];
  const tables = Array.isArray(result.tables) ? (result.tables as BenchTable[]) : [];
  for (const t of tables) out.push(renderTable(t), '');
  if (tables.length === 0) {
    const walk = (prefix: string, v: unknown, depth: number) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 3) {
        for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x, depth + 1);
      } else if (v === null || typeof v !== 'object') {
        out.push(`${prefix}: ${String(v)}`);
      }
    };
    out.push(`== ${name}`);
    for (const [k, v] of Object.entries(result)) if (k !== 'notes' && k !== 'warnings' && k !== 'failures') walk(k, v, 0);
    out.push('');
  }
  const notes = Array.isArray(result.notes) ? (result.notes as unknown[]) : [];
  for (const n of notes) out.push(`note: ${String(n)}`);
  const failures = Array.isArray(result.failures) ? (result.failures as unknown[]) : [];
  if (failures.length > 0) {
    out.push('', `XXXXX ${name}: ${failures.length} FAILED CHECK(S) XXXXX`);
    for (const f of failures) out.push(`XXXXX ${String(f)}`);
  }
  const warnings = Array.isArray(result.warnings) ? (result.warnings as unknown[]) : [];
  if (warnings.length > 0) {
    out.push('', `!!!!! ${name}: ${warnings.length} WARNING(S) — these figures are NOT clean !!!!!`);
    for (const w of warnings) out.push(`!!!!! ${String(w)}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let quick = false;
  const suites: string[] = [];
  for (const a of args) {
    if (a === '--quick') quick = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\nsuites: ${availableSuites().join(', ')}\n`);
      return 0;
    } else if (a.startsWith('-')) {
      process.stderr.write(`bench: unknown flag ${a}\n${USAGE}\n`);
      return 2;
    } else suites.push(a);
  }
  if (suites.length === 0) suites.push('http');

  const available = availableSuites();
  const unknown = suites.filter((s) => !available.includes(s));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown suite ${unknown.join(', ')}; available: ${available.join(', ') || '(none)'}\n`);
    return 2;
  }

  const meta = metadata(quick);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  let exit = 0;
  const t0 = Date.now();
  for (const name of suites) {
    const log = (msg: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${name}: ${msg}\n`);
    const opts: BenchOptions = { quick, log };
    let result: Record<string, unknown>;
    try {
      const mod = (await import(pathToFileURL(path.join(SUITES_DIST_DIR, `${name}.js`)).href)) as { run?: Suite; timeoutMs?: { quick: number; full: number } };
      if (typeof mod.run !== 'function') {
        process.stderr.write(`bench: ${name} does not export run(opts)\n`);
        return 2;
      }
      log(`start (${quick ? 'quick' : 'full'})`);
      const started = Date.now();
      const limits = mod.timeoutMs ?? SUITE_TIMEOUT_MS;
      const limit = quick ? limits.quick : limits.full;
      result = await withTimeout(mod.run(opts), limit, `suite ${name}`);
      log(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      result = { ...result, meta: { ...meta, suite: name, elapsed_s: Math.round((Date.now() - started) / 100) / 10 } };
    } catch (e) {
      log(`FAILED: ${(e as Error).stack ?? String(e)}`);
      exit = 1;
      continue;
    } finally {
      await cleanupAll();
    }
    printSummary(name, result);
    const { tables: _tables, ...data } = result;
    const file = path.join(RESULTS_DIR, `${name}.json`);
    fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
    log(`wrote ${path.relative(REPO_ROOT, file)}`);
    if (result.ok === false) {
      log('reported ok:false (errors or unexpected responses): exit 1');
      exit = 1;
    }
  }
  return exit;
}

process.on('exit', cleanupAllSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    process.stderr.write(`bench: ${sig}, stopping servers\n`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
