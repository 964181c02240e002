/**
 * PostgreSQL as every process of cluster mode meets it (the front's readers and event feed, the
 * writer thread, the copy between the stores): how a client is opened, and which errors mean the
 * database cannot be reached.
 */
import postgres, { type Sql } from 'postgres';

/**
 * One way to open a PostgreSQL client for koor (cluster mode): int8 columns read as JS numbers
 * (koor's ids, versions and epoch-ms values stay far below 2^53; postgres.js would give strings),
 * notices silenced, the node named in `pg_stat_activity`.
 */
export function openPg(url: string, opts: { max: number; name: string; idleTimeoutS?: number }): Sql {
  return postgres(url, {
    max: opts.max,
    onnotice: () => {},
    connection: { application_name: opts.name },
    ...(opts.idleTimeoutS === undefined ? {} : { idle_timeout: opts.idleTimeoutS }),
    types: {
      int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
  });
}

export { isDatabaseUnavailable } from './pg-errors.js';
