import type { Sql } from 'postgres';
import { setDataClock } from '../../schemas/db/time.js';
import { openPg } from './pg.js';

/** How often a node reads the database's clock again, ms. */
const PG_CLOCK_SYNC_MS = 5_000;
/** A reading whose round trip took this much longer than the quickest one is dropped (it says less), unless the last kept one is older than PG_CLOCK_STALE_MS. */
const PG_CLOCK_RTT_SLACK_MS = 2;
const PG_CLOCK_STALE_MS = 60_000;

/**
 * The database's clock on a cluster node's thread, so that every node judges leases, claims and
 * expiries by one clock however its own is set. Read on a connection of its own every
 * PG_CLOCK_SYNC_MS and carried forward between readings on the monotonic clock, which a step of
 * the wall clock does not move. A reading is taken as the time at its answer's arrival: never
 * later than the database's, so a node does not see a lease end before the database would.
 * Cut off from the database, the last reading carries on. `on`: a URL to read on a connection of
 * the clock's own (the writer thread's, whose pool a batch may hold for a while), or a client it
 * shares (the front's read pool: a reading queued behind reads takes longer and is dropped).
 */
export async function startPgClock(on: string | Sql): Promise<() => Promise<void>> {
  const sql: Sql = typeof on === 'string' ? openPg(on, { max: 1, name: 'koor-clock' }) : on;
  const end = async (): Promise<void> => {
    if (typeof on === 'string') await sql.end({ timeout: 1 }).catch(() => {});
  };
  let at = 0;
  let base = 0;
  let keptAt = -Infinity;
  let bestRtt = Infinity;
  const read = async (): Promise<void> => {
    const t0 = performance.now();
    const [row] = await sql<{ ms: number }[]>`SELECT (extract(epoch from clock_timestamp()) * 1000)::float8 AS ms`;
    const t1 = performance.now();
    const rtt = t1 - t0;
    bestRtt = Math.min(bestRtt, rtt);
    if (rtt > bestRtt + PG_CLOCK_RTT_SLACK_MS && t1 - keptAt < PG_CLOCK_STALE_MS) return;
    base = Number(row!.ms);
    at = t1;
    keptAt = t1;
  };
  try {
    await read();
  } catch (err) {
    await end();
    throw err;
  }
  // Whole milliseconds, as Date.now() gives them: the tables store them as integers.
  setDataClock(() => Math.floor(base + (performance.now() - at)));
  const timer = setInterval(() => void read().catch(() => {}), PG_CLOCK_SYNC_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    setDataClock(Date.now);
    await end();
  };
}
