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

/** Uint8Array → Buffer without a copy (postgres.js sends a Buffer parameter as bytea). */
export function bytea(v: Uint8Array): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/**
 * The advisory lock every write transaction takes first: writes serialise cluster-wide, one
 * batch at a time, as they do behind SQLite's single writer — so every method keeps the exact
 * semantics it has there (CAS, claims and lease conflicts have one winner; event ids are handed
 * out in commit order) without per-method locking. Reads never take it. ("kwrt" in ASCII.)
 */
export const WRITE_LOCK = 0x6b777274;
