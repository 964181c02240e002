import type { LeaseRow, TaskRow } from '../rpc/writer.js';

/**
 * The lease and task tables (migration 7) as both sides use them: the writer (decisions) and the
 * front's read connection (lists, checks). Columns, row codecs and the SQL of the lease index
 * are declared once here.
 */

export const LEASE_COLUMNS = 'id, holder, holder_name, resources, exclusive, reason, ttl_ms, acquired_at, expires_ms';
/** A leases row as SQLite returns it. */
export type LeaseDbRow = Omit<LeaseRow, 'resources' | 'exclusive'> & { resources: string; exclusive: number };
/** A lease with one of its resources (`held`) and `seq` (its rowid: acquisition order), as the prefix index finds it. */
export type LeaseCandidate = LeaseDbRow & { held: string; seq: number };
export const decodeLease = (r: LeaseDbRow): LeaseRow => ({
  id: r.id,
  holder: r.holder,
  holder_name: r.holder_name,
  resources: JSON.parse(r.resources) as string[],
  exclusive: r.exclusive === 1,
  reason: r.reason,
  ttl_ms: r.ttl_ms,
  acquired_at: r.acquired_at,
  expires_ms: r.expires_ms,
});

/**
 * The literal-prefix index (lease_resources.prefix, UTF-8 bytes): the largest key at most / below
 * a given one (one seek each, for prefixKeysOf), and the leases with a resource at a key or in a
 * range of keys. `where` is ANDed after the key condition.
 */
export const LEASE_INDEX_SQL = {
  keyAtMost: 'SELECT prefix FROM lease_resources WHERE prefix <= ? ORDER BY prefix DESC LIMIT 1',
  keyBelow: 'SELECT prefix FROM lease_resources WHERE prefix < ? ORDER BY prefix DESC LIMIT 1',
  candidates: (keys: 'at' | 'under' | 'all', where: string): string =>
    `SELECT r.resource AS held, l.rowid AS seq, l.* FROM lease_resources r JOIN leases l ON l.id = r.lease_id
     WHERE ${keys === 'at' ? 'r.prefix = @p' : keys === 'under' ? 'r.prefix > @p AND r.prefix < @end' : "r.prefix > x''"} AND ${where}`,
};

/** A lease has not expired at `@now` (0 = no TTL). */
export const LEASE_LIVE_SQL = '(l.expires_ms = 0 OR l.expires_ms > @now)';

/**
 * Taking or settling a lease or a task is a sign of life: the agent (`@id`) becomes active and
 * seen `@now`. Nothing is written when that is already so (within the same second).
 */
export const REVIVE_SQL = "UPDATE instances SET status = 'active', last_seen = @now WHERE id = @id AND (status <> 'active' OR last_seen <> @now)";

export const TASK_COLUMNS = 'id, project, title, data, priority, deps, capabilities, status, claimed_by, claimed_by_name, attempts, max_attempts, reason, created_at, updated_at';
/** A tasks row as SQLite returns it. */
export type TaskDbRow = Omit<TaskRow, 'deps' | 'capabilities'> & { deps: string; capabilities: string };
export const decodeTask = (r: TaskDbRow): TaskRow => ({ ...r, deps: JSON.parse(r.deps) as number[], capabilities: JSON.parse(r.capabilities) as string[] });
