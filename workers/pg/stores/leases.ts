import { randomUUID } from 'node:crypto';
import type { TransactionSql } from 'postgres';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { Event, WriterMethods } from '../../../schemas/rpc/writer.js';
import { LEASE_COLUMNS as COLS, decodeLease as decode, type LeaseCandidate as Candidate, type LeaseDbRow as Row } from '../../../schemas/db/coord.js';
import { globsOverlap, pathGlob, prefixEnd } from '../../../src/shared/path-glob.js';
import { storageNow } from '../../writer/db.js';
import { Fault } from '../../writer/fault.js';
import type { LeaseEnd } from '../../writer/stores/leases.js';
import type { pgEventStore } from './events.js';

type M = WriterMethods;
type Tx = TransactionSql;
type Filter = { holder: string; exclusive: number; now: number };

/** REVIVE_SQL (schemas/db/coord.ts): taking or settling a lease or a task is a sign of life. */
export async function revive(tx: Tx, id: string, now: string): Promise<void> {
  await tx`UPDATE instances SET status = 'active', last_seen = ${now} WHERE id = ${id} AND (status <> 'active' OR last_seen <> ${now})`;
}

/**
 * Leases on path globs on PostgreSQL (workers/writer/stores/leases.ts). `seq` stands for SQLite's
 * rowid (acquisition order). lease_resources.prefix is bytea: PostgreSQL orders it bytewise, as
 * SQLite orders a BLOB.
 */
export function pgLeaseStore(events: ReturnType<typeof pgEventStore>) {
  const get = async (tx: Tx, id: string): Promise<Row | undefined> => (await tx<Row[]>`SELECT ${tx.unsafe(COLS)} FROM leases WHERE id = ${id}`)[0];

  /**
   * Live leases of other holders with a resource that overlaps `resource`. The rows the SQLite
   * store reads in several seeks (prefixKeysOf: index keys that `prefix` starts with; then keys
   * that start with `prefix`), in one query: the same two key sets, the first as the byte
   * prefixes of `prefix`. Their order does not matter: conflicts are sorted by seq.
   */
  async function inTheWay(tx: Tx, resource: string, f: Filter): Promise<Candidate[]> {
    const prefix = Buffer.from(pathGlob(resource)!.prefix);
    const keys =
      prefix.length === 0
        ? tx`TRUE`
        : tx`(r.prefix = ANY (ARRAY(SELECT substring(${prefix}::bytea FROM 1 FOR n) FROM generate_series(0, ${prefix.length}::int) n))
              OR (r.prefix > ${prefix}::bytea AND r.prefix < ${prefixEnd(prefix)}::bytea))`;
    const rows = await tx<Candidate[]>`
      SELECT r.resource AS held, l.seq, ${tx.unsafe(COLS.split(', ').map((c) => `l.${c}`).join(', '))}
      FROM lease_resources r JOIN leases l ON l.id = r.lease_id
      WHERE ${keys} AND l.holder <> ${f.holder} AND (l.exclusive = 1 OR ${f.exclusive}::bigint = 1) AND (l.expires_ms = 0 OR l.expires_ms > ${f.now})`;
    return rows.filter((r) => globsOverlap(resource, r.held));
  }

  /** Deletes the lease and stores its `lease.released` event. */
  async function end(tx: Tx, r: Row, why: LeaseEnd): Promise<Event> {
    await tx`DELETE FROM leases WHERE id = ${r.id}`;
    const data = `{"id":${JSON.stringify(r.id)},"holder":${JSON.stringify(r.holder)},"holder_name":${JSON.stringify(r.holder_name)},"resources":${r.resources},"exclusive":${r.exclusive === 1},"reason":"${why}"}`;
    return events.publish(tx, { topic: 'lease.released', data, source: 'leases' });
  }

  /** The lease if it is live (present and not past its TTL). */
  async function live(tx: Tx, id: string, now: number): Promise<Row> {
    const r = await get(tx, id);
    if (!r || (r.expires_ms > 0 && r.expires_ms <= now)) throw new Fault('NOT_FOUND', `lease not found: ${id}`);
    return r;
  }

  function heldBy(r: Row, holder: string): void {
    if (r.holder !== holder) throw new Fault('PERMISSION_DENIED', `lease ${r.id} is held by ${r.holder_name}`);
  }

  const endAll = async (tx: Tx, rows: Row[], why: LeaseEnd): Promise<Event[]> => {
    const out: Event[] = [];
    for (const r of rows) out.push(await end(tx, r, why));
    return out;
  };

  return {
    async acquire(tx: Tx, req: ReqOf<M, 'leases.acquire'>): Promise<ResOf<M, 'leases.acquire'>> {
      const [h] = await tx<{ name: string }[]>`SELECT name FROM instances WHERE id = ${req.holder}`;
      if (h === undefined) throw new Fault('INVALID_ARGUMENT', 'lease requires an agent identity');
      const resources = [...new Set(req.resources)];
      for (const r of resources) if (pathGlob(r) === null) throw new Fault('INVALID_ARGUMENT', `invalid pattern: ${r}`);
      const now = Date.now();
      const f: Filter = { holder: req.holder, exclusive: req.exclusive ? 1 : 0, now };
      // Every lease in the way, oldest first, but those blocking the first refused resource first.
      let first: string | null = null;
      const conflicts = new Map<string, Candidate & { rank: number }>();
      for (const r of resources) {
        for (const c of await inTheWay(tx, r, f)) {
          first ??= r;
          if (!conflicts.has(c.id)) conflicts.set(c.id, { ...c, rank: r === first ? 0 : 1 });
        }
      }
      if (first !== null) {
        const leases = [...conflicts.values()].sort((a, b) => a.rank - b.rank || a.seq - b.seq).map(decode);
        return { conflict: { resource: first, leases } };
      }
      const row: Row = {
        id: randomUUID(),
        holder: req.holder,
        holder_name: h.name,
        resources: JSON.stringify(resources),
        exclusive: req.exclusive ? 1 : 0,
        reason: req.reason,
        ttl_ms: req.ttl_ms,
        acquired_at: storageNow(now),
        expires_ms: req.ttl_ms > 0 ? now + req.ttl_ms : 0,
      };
      await tx`INSERT INTO leases (${tx.unsafe(COLS)})
               VALUES (${row.id}, ${row.holder}, ${row.holder_name}, ${row.resources}, ${row.exclusive}, ${row.reason}, ${row.ttl_ms}, ${row.acquired_at}, ${row.expires_ms})`;
      for (const r of resources) {
        await tx`INSERT INTO lease_resources (prefix, lease_id, resource) VALUES (${Buffer.from(pathGlob(r)!.prefix)}, ${row.id}, ${r}) ON CONFLICT DO NOTHING`;
      }
      await revive(tx, req.holder, storageNow(now));
      const data = `{"id":${JSON.stringify(row.id)},"holder":${JSON.stringify(row.holder)},"holder_name":${JSON.stringify(h.name)},"resources":${row.resources},"exclusive":${req.exclusive},"reason":${JSON.stringify(req.reason)}}`;
      return { lease: decode(row), events: [await events.publish(tx, { topic: 'lease.acquired', data, source: 'leases' })] };
    },

    async renew(tx: Tx, req: ReqOf<M, 'leases.renew'>): Promise<ResOf<M, 'leases.renew'>> {
      const now = Date.now();
      const r = await live(tx, req.id, now);
      heldBy(r, req.holder);
      const ttl = req.ttl_ms ?? r.ttl_ms;
      const expires = ttl > 0 ? now + ttl : 0;
      await tx`UPDATE leases SET ttl_ms = ${ttl}, expires_ms = ${expires} WHERE id = ${r.id}`;
      await revive(tx, req.holder, storageNow(now));
      return { lease: decode({ ...r, ttl_ms: ttl, expires_ms: expires }) };
    },

    async release(tx: Tx, req: ReqOf<M, 'leases.release'>): Promise<ResOf<M, 'leases.release'>> {
      const r = await live(tx, req.id, Date.now());
      heldBy(r, req.holder);
      return { lease: decode(r), events: [await end(tx, r, 'released')] };
    },

    async expire(tx: Tx, req: ReqOf<M, 'leases.expire'>): Promise<ResOf<M, 'leases.expire'>> {
      // seq: SQLite reads them through its expires_ms index, ties in rowid order.
      const rows = await tx<Row[]>`SELECT ${tx.unsafe(COLS)} FROM leases WHERE expires_ms > 0 AND expires_ms <= ${Date.now()} ORDER BY expires_ms, seq LIMIT ${req.limit}`;
      return { released: rows.length, more: rows.length === req.limit, events: await endAll(tx, rows, 'expired') };
    },

    /** Ends every lease of `holder` (it went stale or was deregistered). */
    async releaseHolder(tx: Tx, holder: string, why: LeaseEnd): Promise<Event[]> {
      return endAll(tx, await tx<Row[]>`SELECT ${tx.unsafe(COLS)} FROM leases WHERE holder = ${holder} ORDER BY seq`, why);
    },

    /** The holder was seen alive (heartbeat, activate): its TTL leases run from now again. */
    async renewHolder(tx: Tx, holder: string): Promise<void> {
      const now = Date.now();
      await tx`UPDATE leases SET expires_ms = ${now} + ttl_ms WHERE holder = ${holder} AND ttl_ms > 0 AND expires_ms > ${now}`;
    },
  };
}
