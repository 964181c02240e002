import { createDatabase, postgresBinDir, startPostgres, type Postgres } from '../../bench/lib/postgres.js';
import { openPg } from '../../src/shared/pg.js';
import { provided, type Needed } from './apt.js';

export const POSTGRESQL: Needed = { pkg: 'postgresql', find: postgresBinDir };

/**
 * What a test server's PostgreSQL skips: the fsyncs and full-page images that only an OS crash or
 * a power cut needs. A commit still reaches the kernel before it is acknowledged, so a kill -9 of
 * PostgreSQL or of a node (test/cluster/faults.test.ts) loses nothing acknowledged, as in
 * production; the benchmarks keep the durable settings. And autovacuum: its launcher visits every
 * database once a naptime (a worker process each), and a pass leaves a database or more per test
 * file on its shared server (~300 in the cluster pass before they were reused, a worker every
 * ~0.2 s by its end), for tables no test keeps long enough to need one.
 */
const TEST_SETTINGS = { fsync: 'off', full_page_writes: 'off', autovacuum: 'off' };

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

/**
 * Empties every table a server's migrations made but its schema version, and sets its counters
 * back to the 0 the migrations seed them with: what a new database holds once a server has
 * migrated it. Its sequences restart. Rows are deleted, foreign keys unchecked (replica role):
 * TRUNCATE made new files for each table and index, 60–100 ms where this takes 6–18. Waits at
 * most 2 s for a lock (a connection left in a transaction): then the database is not reused.
 */
const EMPTY_DATABASE = `
SET lock_timeout = '2s';
SET session_replication_role = replica;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('koor_schema', 'koor_counters') LOOP
    EXECUTE format('DELETE FROM %I', r.tablename);
  END LOOP;
  FOR r IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' LOOP
    EXECUTE format('ALTER SEQUENCE %I RESTART', r.sequencename);
  END LOOP;
  UPDATE koor_counters SET value = 0;
END $$;`;

/** Databases of this process whose server and data directory are gone, emptied (recycleDatabase). */
const spare: string[] = [];

/**
 * A database for a test server (the suites' startTestServer): one an earlier server of this test
 * process left, emptied, else a new one. CREATE DATABASE copies a template's ~8 MB of catalogs,
 * ~0.3 s of PostgreSQL's CPU and ~0.2 s of the start, and the cluster pass starts ~300 servers.
 */
export function suiteDatabase(pg: { url: string }): Promise<string> {
  const reused = spare.pop();
  return reused !== undefined ? Promise.resolve(reused) : freshDatabase(pg, 'suite');
}

/**
 * Hands a test server's database to the next server of this process, emptied (EMPTY_DATABASE):
 * only once every node of the server has closed and nothing can start on its data directory
 * again. A database that cannot be emptied (never migrated, a lock held) is left alone.
 */
export async function recycleDatabase(url: string): Promise<void> {
  const sql = openPg(url, { max: 1, name: 'koor-test-recycle' });
  try {
    await sql.unsafe(EMPTY_DATABASE);
    spare.push(url);
  } catch {
    // Left as it is: the next server gets a new database.
  } finally {
    await sql.end({ timeout: 1 });
  }
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
