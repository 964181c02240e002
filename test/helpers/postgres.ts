import { createDatabase, postgresBinDir, startPostgres, type Postgres } from '../../bench/lib/postgres.js';
import { provided, type Needed } from './apt.js';

export const POSTGRESQL: Needed = { pkg: 'postgresql', find: postgresBinDir };

/**
 * What a test server's PostgreSQL skips: the fsyncs and full-page images that only an OS crash or
 * a power cut needs. A commit still reaches the kernel before it is acknowledged, so a kill -9 of
 * PostgreSQL or of a node (test/cluster/faults.test.ts) loses nothing acknowledged, as in
 * production; the benchmarks keep the durable settings.
 */
const TEST_SETTINGS = { fsync: 'off', full_page_writes: 'off' };

/**
 * A throwaway PostgreSQL for a test file (cluster mode), or for the whole cluster pass
 * (test/setup/shared-postgres.ts): Debian's postgresql (installed by the test setup,
 * test/setup/install.ts), started in a temp dir on loopback; or why it cannot be had.
 */
export async function providePostgres(settings: Record<string, string> = {}): Promise<Postgres | { skipped: string }> {
  const bin = provided(POSTGRESQL);
  return 'skip' in bin ? { skipped: bin.skip } : startPostgres({ ...TEST_SETTINGS, ...settings });
}

let databases = 0;
/** A new empty database on `pg` (one per test, so nodes of one test share it and no other); its URL. */
export function freshDatabase(pg: { url: string }, prefix = 'koor'): Promise<string> {
  return createDatabase(pg, `${prefix}_${process.pid}_${++databases}`);
}

/** A PostgreSQL a test file only connects to and makes databases on: it never restarts, stops or signals it. */
export type PgServer = Pick<Postgres, 'url' | 'stop'>;

/**
 * A PostgreSQL for a test file that never restarts, stops or signals it: a database of its own on
 * the server its run shares (KOOR_TEST_POSTGRES_URL, test/setup/shared-postgres.ts: npm test's
 * main pass and its cluster pass each start one), whose `stop` leaves that server running; run
 * alone, a server of its own (providePostgres). initdb, start and stop are ~1.5 s of CPU a file.
 */
export async function filePostgres(): Promise<PgServer | { skipped: string }> {
  const shared = process.env.KOOR_TEST_POSTGRES_URL;
  if (shared === undefined || shared === '') return providePostgres();
  return { url: await freshDatabase({ url: shared }, 'file'), stop: () => {} };
}
