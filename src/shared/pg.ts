/**
 * PostgreSQL as every process of cluster mode meets it (the front's readers and event feed, the
 * writer thread, the copy between the stores): how a client is opened, and which errors mean the
 * database cannot be reached.
 */
import { createRequire } from 'node:module';
import type { Sql } from 'postgres';
import type postgresJs from 'postgres';
import { reconnectWaitMs } from './pg-errors.js';
import { defined } from './defined.js';
import { PG_RANDOM_PAGE_COST } from './limits.js';

/**
 * postgres.js's wait before it reconnects a connection that closed, in seconds, by the client's
 * count of connections that closed with an error since one last connected: 50 ms doubling to 1 s.
 * Its own (½ to 1 × 3^n / 100 s, capped at 20 s) reaches seconds after a few failed tries and
 * 10 to 20 s after seven, as a PostgreSQL restart under load gives; the reads queued meanwhile
 * wait for it, so a node answered again long after PostgreSQL was back.
 */
export const reconnectDelayS = (closedWithError: number): number => reconnectWaitMs(closedWithError) / 1000;

/**
 * postgres.js, loaded at the first client: a SQLite server never opens one, and loading it (with
 * the net, tls and crypto modules it pulls in) cost each SQLite start ~70 ms on the front and as
 * much again on the writer thread.
 */
const requirePg = createRequire(import.meta.url);
let postgres: typeof postgresJs | undefined;

/**
 * One way to open a PostgreSQL client for koor (cluster mode): int8 columns read as JS numbers
 * (koor's ids, versions and epoch-ms values stay far below 2^53; postgres.js would give strings),
 * notices silenced, the node named in `pg_stat_activity`, its plans costed for hot pages
 * (PG_RANDOM_PAGE_COST), a lost connection reconnected within 1 s (reconnectDelayS).
 *
 * No array types fetched (`fetch_types: false`): postgres.js 3.4.9 reads them on every new
 * connection with a query whose failure nothing handles, so a connection lost or a client ended
 * during that read was an unhandled rejection, which ends the process. koor reads no
 * array column and passes its one array parameter as a literal (`CAST(? AS bigint[])`).
 */
export function openPg(url: string, opts: { max: number; name: string; idleTimeoutS?: number; idleInTransactionMs?: number }): Sql {
  postgres ??= requirePg('postgres') as typeof postgresJs;
  return postgres(url, {
    max: opts.max,
    onnotice: () => {},
    connection: { application_name: opts.name, random_page_cost: PG_RANDOM_PAGE_COST, ...defined({ idle_in_transaction_session_timeout: opts.idleInTransactionMs }) },
    backoff: reconnectDelayS,
    fetch_types: false,
    ...defined({ idle_timeout: opts.idleTimeoutS }),
    types: {
      int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
  });
}

export { isDatabaseUnavailable } from './pg-errors.js';
