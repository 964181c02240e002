import type { Sql } from 'postgres';
import { LEASE_COLUMNS as COLS, LEASE_INDEX_SQL, LEASE_LIVE_SQL, type LeaseCandidate, type LeaseDbRow } from '../../../schemas/db/coord.js';
import { prefixEnd, prefixKeysOf } from '../../shared/path-glob.js';
import type { Awaitable, ReadDb } from '../../store.js';

/**
 * Read-only queries of the lease table; SQLite answers at once, PostgreSQL with a promise. Leases
 * past their TTL at `now` count as gone everywhere. Candidates are found through the literal-
 * prefix index (lease_resources.prefix), never by scanning every lease.
 */
export interface LeaseReader {
  get(id: string, now: number): Awaitable<LeaseDbRow | undefined>;
  /** Oldest first (acquisition order). */
  list(holder: string | null, limit: number, now: number): Awaitable<LeaseDbRow[]>;
  /** Live leases with a resource whose literal prefix is a prefix of `prefix` (the empty one included). */
  startingBefore(prefix: Buffer, now: number): Awaitable<LeaseCandidate[]>;
  /** Live leases with a resource whose literal prefix extends `prefix` (all of them when it is empty). */
  under(prefix: Buffer, now: number): Awaitable<LeaseCandidate[]>;
  count(now: number): Awaitable<number>;
  /** Whether some lease's TTL has run out by `now`. */
  due(now: number): Awaitable<boolean>;
}

export function sqliteLeaseReader(db: ReadDb): LeaseReader {
  type Params = { now: number };
  const q = {
    get: db.prepare<[Params & { id: string }], LeaseDbRow>(`SELECT ${COLS} FROM leases l WHERE id = @id AND ${LEASE_LIVE_SQL}`),
    list: db.prepare<[Params & { holder: string | null; limit: number }], LeaseDbRow>(
      `SELECT ${COLS} FROM leases l WHERE (@holder IS NULL OR holder = @holder) AND ${LEASE_LIVE_SQL} ORDER BY rowid LIMIT @limit`,
    ),
    keyAtMost: db.prepare<[Buffer], Buffer>(LEASE_INDEX_SQL.keyAtMost).pluck(),
    keyBelow: db.prepare<[Buffer], Buffer>(LEASE_INDEX_SQL.keyBelow).pluck(),
    atPrefix: db.prepare<[Params & { p: Buffer }], LeaseCandidate>(LEASE_INDEX_SQL.candidates('at', LEASE_LIVE_SQL)),
    under: db.prepare<[Params & { p: Buffer; end: Buffer }], LeaseCandidate>(LEASE_INDEX_SQL.candidates('under', LEASE_LIVE_SQL)),
    everything: db.prepare<[Params], LeaseCandidate>(LEASE_INDEX_SQL.candidates('all', LEASE_LIVE_SQL)),
    count: db.prepare<[Params], number>(`SELECT count(*) FROM leases l WHERE ${LEASE_LIVE_SQL}`).pluck(),
    due: db.prepare<[number], number>('SELECT 1 FROM leases WHERE expires_ms > 0 AND expires_ms <= ? LIMIT 1').pluck(),
  };
  const seek = (x: Buffer, inclusive: boolean): Buffer | undefined => (inclusive ? q.keyAtMost : q.keyBelow).get(x);
  return {
    get: (id, now) => q.get.get({ id, now }),
    list: (holder, limit, now) => q.list.all({ holder, limit, now }),
    startingBefore: (prefix, now) => prefixKeysOf(prefix, seek).flatMap((p) => q.atPrefix.all({ p, now })),
    under: (prefix, now) => (prefix.length === 0 ? q.everything.all({ now }) : q.under.all({ p: prefix, end: prefixEnd(prefix), now })),
    count: (now) => q.count.get({ now }) ?? 0,
    due: (now) => q.due.get(now) !== undefined,
  };
}

/**
 * The same on PostgreSQL (cluster mode). `seq` is SQLite's rowid (acquisition order); the keys
 * prefixKeysOf finds by seeking are, here, the byte prefixes of `prefix` looked up at once.
 */
export function pgLeaseReader(sql: Sql): LeaseReader {
  const cols = sql.unsafe(COLS);
  const lcols = sql.unsafe(COLS.split(', ').map((c) => `l.${c}`).join(', '));
  const live = (now: number) => sql`(l.expires_ms = 0 OR l.expires_ms > ${now})`;
  return {
    async get(id, now) {
      return (await sql<LeaseDbRow[]>`SELECT ${cols} FROM leases l WHERE id = ${id} AND ${live(now)}`)[0];
    },
    async list(holder, limit, now) {
      return [...(await sql<LeaseDbRow[]>`SELECT ${cols} FROM leases l WHERE (${holder}::text IS NULL OR holder = ${holder}) AND ${live(now)} ORDER BY seq LIMIT ${limit}`)];
    },
    async startingBefore(prefix, now) {
      return [
        ...(await sql<LeaseCandidate[]>`
          SELECT r.resource AS held, l.seq, ${lcols} FROM lease_resources r JOIN leases l ON l.id = r.lease_id
          WHERE r.prefix = ANY (ARRAY(SELECT substring(${prefix}::bytea FROM 1 FOR n) FROM generate_series(0, ${prefix.length}::int) n)) AND ${live(now)}`),
      ];
    },
    async under(prefix, now) {
      const keys = prefix.length === 0 ? sql`r.prefix > ''::bytea` : sql`r.prefix > ${prefix}::bytea AND r.prefix < ${prefixEnd(prefix)}::bytea`;
      return [...(await sql<LeaseCandidate[]>`SELECT r.resource AS held, l.seq, ${lcols} FROM lease_resources r JOIN leases l ON l.id = r.lease_id WHERE ${keys} AND ${live(now)}`)];
    },
    async count(now) {
      return (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM leases l WHERE ${live(now)}`)[0]!.n;
    },
    async due(now) {
      return (await sql`SELECT 1 FROM leases WHERE expires_ms > 0 AND expires_ms <= ${now} LIMIT 1`).length > 0;
    },
  };
}
