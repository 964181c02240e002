/**
 * Runs a command with one throwaway PostgreSQL for all of it, its URL in KOOR_TEST_POSTGRES_URL:
 * the cluster pass (test/cluster-pass.sh), whose test files then each make their databases on it
 * (test/helpers/server.ts) instead of starting a PostgreSQL of their own — initdb, start and stop
 * were ~2 s of each of its ~50 files. Stopped and removed when the command ends; exits with its
 * code. Usage: node dist/test/setup/shared-postgres.js <command> [args...]
 */
import { spawn } from 'node:child_process';
import { providePostgres } from '../helpers/postgres.js';

/** Connections enough for two files at a time, each with a few servers of several nodes alive. */
const MAX_CONNECTIONS = '600';

const [command, ...args] = process.argv.slice(2);
if (command === undefined) {
  process.stderr.write('usage: shared-postgres.js <command> [args...]\n');
  process.exit(2);
}
const pg = await providePostgres({ max_connections: MAX_CONNECTIONS });
if ('skipped' in pg) {
  // cluster-pass.sh skips (and says so) before this when PostgreSQL cannot be had at all: here it
  // was there and did not start, which is a failure of the pass.
  process.stderr.write(`# the shared PostgreSQL did not start: ${pg.skipped}\n`);
  process.exit(1);
}
const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, KOOR_TEST_POSTGRES_URL: pg.url } });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  pg.stop();
  process.exit(code ?? (signal ? 1 : 0));
});
