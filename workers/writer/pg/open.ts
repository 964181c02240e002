import type { Sql } from 'postgres';
import { openPg } from '../../../src/shared/pg.js';
import { PG_WRITER_IDLE_IN_TX_MS } from '../../../src/shared/limits.js';
import type { Driver } from '../sql.js';
import { pgDriver } from './driver.js';
import { startPgClock } from '../../../src/shared/pg-clock.js';
import { migratePg } from './migrate.js';

/**
 * Connects the writer to PostgreSQL (two connections: a batch's and the next one's) and applies
 * missing migrations. The driver opens a new client the same way after a lost connection. A
 * session idle in its transaction past PG_WRITER_IDLE_IN_TX_MS is ended by PostgreSQL, so a
 * frozen or cut-off node lets go of the cluster's write lock.
 */
export async function openPgDriver(url: string): Promise<Driver> {
  let sql: Sql | null = null;
  try {
    const open = () => openPg(url, { max: 2, name: 'koor-writer', idleInTransactionMs: PG_WRITER_IDLE_IN_TX_MS });
    sql = open();
    await migratePg(sql);
    // Leases, claims and expiries judged by the database's clock, as every node's (pg-clock.ts).
    const stopClock = await startPgClock(url);
    const driver = pgDriver(open, sql);
    const close = driver.close;
    driver.close = () => Promise.all([close(), stopClock()]).then(() => {});
    return driver;
  } catch (err) {
    await sql?.end({ timeout: 1 }).catch(() => {});
    throw err;
  }
}
