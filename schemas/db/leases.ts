import { dialects, only, sql, type Query } from './sql.js';
import { LEASE } from './tables/leases.js';

/**
 * The lease tables (schemas/db/tables/leases.ts) as both sides use them: the writer
 * (decisions) and the front's readers (lists, checks). The SQL of the lease index is declared
 * once here.
 */

/** A leases row as the database returns it (resources JSON text, exclusive 0 or 1). */
export type LeaseDbRow = Parameters<typeof LEASE.decode>[0];
/** A lease with one of its resources (`held`) and `seq` (its rowid: acquisition order), as the prefix index finds it. */
export type LeaseCandidate = LeaseDbRow & { held: string; seq: number };

/**
 * A lease resource's index key: its project's UTF-8 bytes, a NUL (which no name
 * contains), then the glob's literal prefix. Keys of two projects never start one another, so
 * every seek stays within one project; LEASE_KEY_FLOOR bytes of a key are its project part.
 */
export const leaseKey = (project: string, literalPrefix: string): Buffer => Buffer.from(`${project}\u0000${literalPrefix}`);
/** How many bytes of a project's keys are the project part (the floor of their seeks). */
export const leaseKeyFloor = (project: string): number => Buffer.byteLength(project) + 1;

/**
 * The literal-prefix index (lease_resources.prefix, UTF-8 bytes; PostgreSQL's bytea orders
 * bytewise, as SQLite's BLOB): the leases with a resource at index keys, found without scanning
 * every lease. A candidate row is a lease with one of its resources (`held`) and its acquisition
 * order (`seq`: SQLite's rowid, PostgreSQL's seq column). `keys` (on `r`, the index rows) per
 * dialect ('': the dialect does not run it), then `lease` (on `l`); parameters in that order.
 * PostgreSQL reads the index rows first, then each one's lease by its id, both fenced (OFFSET 0,
 * LATERAL): a prepared statement's generic plan, which cannot see the keys — and was made when
 * the table was small — otherwise reads every lease (0.45 ms a lease check at 10,000 leases,
 * growing with them).
 */
export function leaseCandidates(keys: { sqlite: string; pg: string }, lease: string): Query {
  const cols = LEASE.columns.split(', ').map((c) => `l.${c}`).join(', ');
  return dialects({
    sqlite: keys.sqlite === '' ? '' : `SELECT r.resource AS held, l.rowid AS seq, ${cols} FROM lease_resources r JOIN leases l ON l.id = r.lease_id WHERE (${keys.sqlite}) AND ${lease}`,
    pg:
      keys.pg === ''
        ? ''
        : `SELECT r.resource AS held, l.seq AS seq, ${cols} FROM (SELECT resource, lease_id FROM lease_resources r WHERE ${keys.pg} OFFSET 0) r, ` +
          `LATERAL (SELECT seq, ${LEASE.columns} FROM leases l WHERE l.id = r.lease_id AND ${lease} OFFSET 0) l`,
  });
}

/** SQLite's seeks for prefixKeysOf: the largest index key at most / below a given one. */
export const LEASE_KEY_SEEK = {
  atMost: only('sqlite', 'SELECT prefix FROM lease_resources WHERE prefix <= ? ORDER BY prefix DESC LIMIT 1'),
  below: only('sqlite', 'SELECT prefix FROM lease_resources WHERE prefix < ? ORDER BY prefix DESC LIMIT 1'),
};
/** PostgreSQL finds at once what those seeks find: the keys that are byte prefixes of `?` (parameters: key, its floor, its length). */
export const LEASE_KEYS_STARTING_PG = 'r.prefix = ANY (ARRAY(SELECT substring(CAST(? AS bytea) FROM 1 FOR n) FROM generate_series(CAST(? AS integer), CAST(? AS integer)) n))';
/** Keys under a prefix: parameters prefix, prefixEnd(prefix). */
export const LEASE_KEYS_UNDER = 'r.prefix > ? AND r.prefix < ?';

/**
 * A lease has not expired at `?` (epoch ms; 0 = no TTL). The unary `+` keeps the column from
 * being matched against the partial index leases_expiry: SQLite re-prepares a statement at every
 * run when a bound parameter decides whether a partial index applies (15 µs a lease check instead
 * of 0.5; test/unit/sql-reprepare.test.ts keeps it so).
 */
export const LEASE_LIVE = '(+l.expires_ms = 0 OR +l.expires_ms > ?)';

/**
 * Taking or settling a lease or a task is a sign of life: the agent becomes active and seen now.
 * Nothing is written when that is already so (within the same second). Parameters: now, id, now.
 */
export const REVIVE = sql("UPDATE instances SET status = 'active', last_seen = ? WHERE id = ? AND (status <> 'active' OR last_seen <> ?)");
