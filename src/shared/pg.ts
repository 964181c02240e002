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

/**
 * A broken or restarting PostgreSQL (cluster mode): SQLSTATE classes of connection failures,
 * shutdown and recovery, too many connections, and postgres.js's socket errors.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
  return ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT'].includes(code);
}
