import { LEASE_KEY_SEEK, LEASE_KEYS_STARTING_PG, LEASE_KEYS_UNDER, LEASE_LIVE, leaseCandidates, leaseKey, leaseKeyFloor, type LeaseCandidate, type LeaseDbRow } from '../../../schemas/db/leases.js';
import { dialects, sql } from '../../../schemas/db/sql.js';
import { LEASE } from '../../../schemas/db/tables/leases.js';
import { then, type Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { prefixEnd, prefixKeysOf } from '../../shared/path-glob.js';

/**
 * Read-only queries of the lease table; SQLite answers at once, PostgreSQL with a promise. Leases
 * past their TTL at `now` count as gone everywhere. Candidates are found through the literal-
 * prefix index (lease_resources.prefix), never by scanning every lease.
 */
export interface LeaseReader {
  get(id: string, now: number): Awaitable<LeaseDbRow | undefined>;
  /** Oldest first (acquisition order); null: any holder, any project. */
  list(holder: string | null, project: string | null, limit: number, now: number): Awaitable<LeaseDbRow[]>;
  /** Live leases of `project` with a resource whose literal prefix is a prefix of `prefix` (the empty one included). */
  startingBefore(project: string, prefix: string, now: number): Awaitable<LeaseCandidate[]>;
  /** Live leases of `project` with a resource whose literal prefix extends `prefix` (all of the project's when it is empty). */
  under(project: string, prefix: string, now: number): Awaitable<LeaseCandidate[]>;
  count(now: number): Awaitable<number>;
  /** Whether some lease's TTL has run out by `now`. */
  due(now: number): Awaitable<boolean>;
}

const COLS = LEASE.columns;
const GET = sql(`SELECT ${COLS} FROM leases l WHERE id = ? AND ${LEASE_LIVE}`);
/**
 * Acquisition order (SQLite's rowid, PostgreSQL's seq), one statement per filter: `(? IS NULL OR
 * project = ?)` kept SQLite off the project's and the holder's indexes (every lease read: 216 µs
 * for a session start's list of its project's leases, 17 through the index). Parameters: the
 * filters' values, now, limit.
 */
const listWhere = (where: string) =>
  dialects({
    sqlite: `SELECT ${COLS} FROM leases l WHERE ${where} ${LEASE_LIVE} ORDER BY rowid LIMIT CAST(? AS bigint)`,
    pg: `SELECT ${COLS} FROM leases l WHERE ${where} ${LEASE_LIVE} ORDER BY seq LIMIT CAST(? AS bigint)`,
  });
const LISTS = { all: listWhere(''), holder: listWhere('holder = ? AND'), project: listWhere('project = ? AND'), both: listWhere('holder = ? AND project = ? AND') };
const AT_KEY = leaseCandidates({ sqlite: 'r.prefix = ?', pg: '' }, LEASE_LIVE);
/** Parameters: key, its floor, its length, now. */
const STARTING_PG = leaseCandidates({ sqlite: '', pg: LEASE_KEYS_STARTING_PG }, LEASE_LIVE);
const UNDER = leaseCandidates({ sqlite: LEASE_KEYS_UNDER, pg: LEASE_KEYS_UNDER }, LEASE_LIVE);
/** Every lease less those past their TTL (the expiry index counts them): no lease is read. Parameter: now. */
const COUNT = sql('SELECT (SELECT count(*) FROM leases) - (SELECT count(*) FROM leases WHERE expires_ms > 0 AND expires_ms <= ?) AS n');
const DUE = sql('SELECT 1 AS found FROM leases WHERE expires_ms > 0 AND expires_ms <= ? LIMIT 1');

/**
 * Leases with a resource at an index key that is a prefix of `prefix`: SQLite seeks the keys
 * (prefixKeysOf: a few seeks, answered at once), PostgreSQL finds them in the same statement.
 */
const startingBefore = {
  sqlite(db: Reads): LeaseReader['startingBefore'] {
    const atMost = db.statement<{ prefix: Buffer }>(LEASE_KEY_SEEK.atMost);
    const below = db.statement<{ prefix: Buffer }>(LEASE_KEY_SEEK.below);
    const atKey = db.statement<LeaseCandidate>(AT_KEY);
    const seek = (x: Buffer, inclusive: boolean) => ((inclusive ? atMost : below).get(x) as { prefix: Buffer } | undefined)?.prefix;
    return (project, prefix, now) => prefixKeysOf(leaseKey(project, prefix), seek, leaseKeyFloor(project)).flatMap((p) => atKey.all(p, now) as LeaseCandidate[]);
  },
  pg(db: Reads): LeaseReader['startingBefore'] {
    const starting = db.statement<LeaseCandidate>(STARTING_PG);
    return (project, prefix, now) => {
      const key = leaseKey(project, prefix);
      return starting.all(key, leaseKeyFloor(project), key.length, now);
    };
  },
};

/** The lease table's reads, on either backend. */
export function leaseReader(db: Reads): LeaseReader {
  const get = db.statement<LeaseDbRow>(GET);
  const lists = { all: db.statement<LeaseDbRow>(LISTS.all), holder: db.statement<LeaseDbRow>(LISTS.holder), project: db.statement<LeaseDbRow>(LISTS.project), both: db.statement<LeaseDbRow>(LISTS.both) };
  const under = db.statement<LeaseCandidate>(UNDER);
  const count = db.statement<{ n: number }>(COUNT);
  const due = db.statement<{ found: number }>(DUE);
  return {
    get: (id, now) => get.get(id, now),
    list: (holder, project, limit, now) =>
      holder === null
        ? project === null
          ? lists.all.all(now, limit)
          : lists.project.all(project, now, limit)
        : project === null
          ? lists.holder.all(holder, now, limit)
          : lists.both.all(holder, project, now, limit),
    startingBefore: startingBefore[db.dialect](db),
    under: (project, prefix, now) => {
      const key = leaseKey(project, prefix);
      return under.all(key, prefixEnd(key), now);
    },
    count: (now) => then(count.get(now), (r) => r?.n ?? 0),
    due: (now) => then(due.get(now), (r) => r !== undefined),
  };
}
