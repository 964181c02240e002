import { createDatabase, postgresBinDir, startPostgres, type Postgres } from '../../bench/postgres.js';
import { aptProvide } from './apt.js';

/**
 * A throwaway PostgreSQL for a test file (cluster mode): Debian's postgresql, installed with
 * apt-get when absent (root), started in a temp dir on loopback; or why it cannot be had.
 */
export async function providePostgres(): Promise<Postgres | { skipped: string }> {
  const provided = await aptProvide('postgresql', postgresBinDir, 240_000);
  return 'skip' in provided ? { skipped: provided.skip } : startPostgres();
}

let databases = 0;
/** A new empty database on `pg` (one per test, so nodes of one test share it and no other); its URL. */
export function freshDatabase(pg: Postgres, prefix = 'koor'): Promise<string> {
  return createDatabase(pg, `${prefix}_${process.pid}_${++databases}`);
}
