/**
 * What a benchmark suite is, and where things are (run by bench/run.ts).
 *
 * A suite is a module `bench/suites/<suite>.ts` exporting `run(opts: BenchOptions)`; it returns a
 * plain JSON-able record. Conventions run.ts understands in that record (all optional):
 *   - `tables: BenchTable[]`  printed to stdout as text tables (not written to the JSON file);
 *   - `notes: string[]`       printed under the tables;
 *   - `warnings: string[]`    printed loudly;
 *   - `failures: string[]`    failed checks (a soak's violated invariants), printed loudly; set `ok: false` too;
 *   - `ok: false`             the run is invalid (errors, wrong statuses): exit code 1.
 *
 * The other helpers of bench/lib/ bind to 127.0.0.1 only and are bounded in time: child start-up,
 * each load run, shutdown. Every child process and temp dir is registered and removed by
 * `cleanupAll()` (cleanup.ts; run.ts calls it in `finally`, on SIGINT/SIGTERM and, synchronously,
 * on exit).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** dist/bench (the runner, and the helpers a suite starts as processes). */
export const BENCH_DIST_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** dist/bench/suites: every module there is a suite, named by its file. */
export const SUITES_DIST_DIR = path.join(BENCH_DIST_DIR, 'suites');
/** The repository root (dist/bench/../..). */
export const REPO_ROOT = path.resolve(BENCH_DIST_DIR, '..', '..');
/** bench/results in the source tree. */
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');
export const KOOR_MAIN_JS = path.join(REPO_ROOT, 'dist', 'src', 'main.js');
