'use strict';
/**
 * Preloaded into every test file tap runs (package.json: tap's `node-arg`, `--require`). tap
 * starts each file with `--import` of @tapjs/processinfo, which on Node 20 registers module hooks
 * on a loader thread: every module a test loads (the whole server, in-process) then goes through
 * that thread, which cost a test file 1–4 s of CPU — about half of what a typical HTTP test file
 * spends — for what only coverage and `tap --changed` use, both unused here (coverage is off).
 * On a 2-core machine that runs three files at a time, CPU is what the suite waits for.
 *
 * tap also starts each file with --enable-source-maps: every module and worker thread then reads
 * and parses its source map as it loads (the writer thread's bundle has a 600 KB one, read again
 * by each server a test starts), ~0.5–1.3 s of CPU a file. The child runs without it: a failure's
 * stack points at dist/test/*.js, whose lines are the test's own (esbuild strips types only);
 * KOOR_TEST_SOURCE_MAPS=1 keeps it, for stacks that name the .ts sources.
 *
 * So the file runs again in a child without that hook (argv and NODE_OPTIONS), stdio shared (tap
 * reads the child's TAP as the file's), and this process leaves with the child's exit code or
 * signal. `--require` runs before `--import`: the hook is never registered here. The child watches
 * this process: when tap kills it (a timeout), the child ends too.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { isMainThread } = require('node:worker_threads');

const MARK = 'TAP_UNHOOKED_PARENT';
const isHook = (arg) => arg.includes('@tapjs/processinfo');
/** `args` for the child: without the hook (`--import=<hook>`, or `--import` / `--loader` followed by it) and, unless asked for, source maps. */
const childArgs = (args) =>
  args.filter((a, i) => !isHook(a) && !(/^--(import|loader|experimental-loader)$/.test(a) && isHook(args[i + 1] ?? '')) && !(a === '--enable-source-maps' && process.env.KOOR_TEST_SOURCE_MAPS !== '1'));
/**
 * `args` with this file's own `--require` (package.json gives it relative to the repository)
 * as its absolute path: the child's worker threads inherit its argv, and a test that changed
 * directory before starting one would otherwise not find this file.
 */
const absoluteSelf = (args) => args.map((a) => (a.startsWith('--require=') && path.resolve(a.slice('--require='.length)) === __filename ? `--require=${__filename}` : a));

if (isMainThread && process.env[MARK] === undefined && process.execArgv.some(isHook)) {
  const env = { ...process.env, [MARK]: String(process.pid) };
  const options = childArgs((env.NODE_OPTIONS ?? '').split(/\s+/).filter((a) => a !== ''));
  if (options.length > 0) env.NODE_OPTIONS = options.join(' ');
  else delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [...absoluteSelf(childArgs(process.execArgv)), ...process.argv.slice(1)], { stdio: 'inherit', env });
  if (r.error) {
    process.stderr.write(`test/setup/unhook.cjs: could not run ${process.argv[1]} again: ${r.error.message}\n`);
    process.exit(1);
  }
  if (r.signal) process.kill(process.pid, r.signal);
  process.exit(r.status ?? 1);
} else if (isMainThread && process.env[MARK] === String(process.ppid)) {
  // The child: once its parent is gone (killed by tap's timeout), end as tap's SIGTERM would have.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM');
  }, 500).unref();
}
