/**
 * Runs a command with one throwaway PostgreSQL for all of it, its URL in KOOR_TEST_POSTGRES_URL:
 * the cluster pass (test/cluster-pass.sh), whose test files then each make their databases on it
 * (test/helpers/server.ts) instead of starting a PostgreSQL of their own — initdb, start and stop
 * were ~2 s of each of its ~50 files; and npm test's main pass, whose test/cluster files that
 * never restart or stop their PostgreSQL take a database on it (filePostgres in
 * test/helpers/postgres.ts). Stopped and removed when the command ends; exits with its code.
 * Usage: node dist/test/setup/shared-postgres.js [--if-available] <command> [args...]
 * `--if-available`: when PostgreSQL cannot be had, the command runs without it (its files start
 * their own or skip with the reason) instead of failing.
 */
import { spawn } from 'node:child_process';
import { providePostgres } from '../helpers/postgres.js';

/** Connections enough for three files at a time, each with a few servers of several nodes alive. */
const MAX_CONNECTIONS = '600';

const optional = process.argv[2] === '--if-available';
const [command, ...args] = process.argv.slice(optional ? 3 : 2);
if (command === undefined) {
  process.stderr.write('usage: shared-postgres.js [--if-available] <command> [args...]\n');
  process.exit(2);
}
const pg = await providePostgres({ max_connections: MAX_CONNECTIONS });
if ('skipped' in pg && !optional) {
  // cluster-pass.sh skips (and says so) before this when PostgreSQL cannot be had at all: here it
  // was there and did not start, which is a failure of the pass.
  process.stderr.write(`# the shared PostgreSQL did not start: ${pg.skipped}\n`);
  process.exit(1);
}
if ('skipped' in pg) process.stdout.write(`# no shared PostgreSQL (${pg.skipped}): each test file that needs one starts its own or skips\n`);
const child = spawn(command, args, { stdio: 'inherit', env: 'skipped' in pg ? process.env : { ...process.env, KOOR_TEST_POSTGRES_URL: pg.url } });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (!('skipped' in pg)) pg.stop();
  process.exit(code ?? (signal ? 1 : 0));
});
