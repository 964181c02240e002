import { randomUUID } from 'node:crypto';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { Event, WriterMethods } from '../../../schemas/rpc/writer.js';
import { LEASE_COLUMNS as COLS, LEASE_INDEX_SQL, LEASE_LIVE_SQL, REVIVE_SQL, decodeLease as decode, type LeaseCandidate as Candidate, type LeaseDbRow as Row } from '../../../schemas/db/coord.js';
// The one module of src/ the writer loads: the glob dialect and its overlap test (pure code).
import { globsOverlap, pathGlob, prefixEnd, prefixKeysOf } from '../../../src/shared/path-glob.js';
import { storageNow, type DB } from '../db.js';
import { Fault } from '../fault.js';
import type { EventStore } from './events.js';

type M = WriterMethods;
/** Why a lease ended (the `reason` of its `lease.released` event). */
export type LeaseEnd = 'released' | 'expired' | 'stale' | 'deregistered';

/**
 * Leases on path globs (SPEC §8.8). Every decision — conflict check and grant, renew, release,
 * expiry — runs here, inside the writer's transaction, so two agents can never both be granted
 * overlapping exclusive leases. Expired leases (TTL past, not yet swept) count as gone everywhere.
 */
export function leaseStore(db: DB, events: EventStore) {
  const get = db.prepare<[string], Row>(`SELECT ${COLS} FROM leases WHERE id = ?`);
  const byHolder = db.prepare<[string], Row>(`SELECT ${COLS} FROM leases WHERE holder = ? ORDER BY rowid`);
  const due = db.prepare<[number, number], Row>(`SELECT ${COLS} FROM leases WHERE expires_ms > 0 AND expires_ms <= ? ORDER BY expires_ms LIMIT ?`);
  const insert = db.prepare(`INSERT INTO leases (${COLS}) VALUES (@id, @holder, @holder_name, @resources, @exclusive, @reason, @ttl_ms, @acquired_at, @expires_ms)`);
  const insertResource = db.prepare<[Buffer, string, string]>('INSERT OR IGNORE INTO lease_resources (prefix, lease_id, resource) VALUES (?, ?, ?)');
  const del = db.prepare<[string]>('DELETE FROM leases WHERE id = ?');
  const setExpiry = db.prepare<[number, number, string]>('UPDATE leases SET ttl_ms = ?, expires_ms = ? WHERE id = ?');
  const renewHolder = db.prepare<{ holder: string; now: number }>('UPDATE leases SET expires_ms = @now + ttl_ms WHERE holder = @holder AND ttl_ms > 0 AND expires_ms > @now');
  const holderName = db.prepare<[string], string>('SELECT name FROM instances WHERE id = ?').pluck();
  const revive = db.prepare<{ now: string; id: string }>(REVIVE_SQL);
  const keyAtMost = db.prepare<[Buffer], Buffer>(LEASE_INDEX_SQL.keyAtMost).pluck();
  const keyBelow = db.prepare<[Buffer], Buffer>(LEASE_INDEX_SQL.keyBelow).pluck();
  // Resources of live leases of other holders that could be in the way of a request.
  const IN_THE_WAY = `l.holder <> @holder AND (l.exclusive = 1 OR @exclusive = 1) AND ${LEASE_LIVE_SQL}`;
  type Filter = { holder: string; exclusive: number; now: number };
  const atPrefix = db.prepare<[Filter & { p: Buffer }], Candidate>(LEASE_INDEX_SQL.candidates('at', IN_THE_WAY));
  const under = db.prepare<[Filter & { p: Buffer; end: Buffer }], Candidate>(LEASE_INDEX_SQL.candidates('under', IN_THE_WAY));
  const everything = db.prepare<[Filter], Candidate>(LEASE_INDEX_SQL.candidates('all', IN_THE_WAY));

  const seek = (x: Buffer, inclusive: boolean): Buffer | undefined => (inclusive ? keyAtMost : keyBelow).get(x);

  /** Live leases of other holders with a resource that overlaps `resource` (only prefix-compatible rows are read). */
  function inTheWay(resource: string, f: Filter): Candidate[] {
    const prefix = Buffer.from(pathGlob(resource)!.prefix);
    const rows: Candidate[] = [];
    for (const key of prefixKeysOf(prefix, seek)) rows.push(...atPrefix.all({ ...f, p: key }));
    rows.push(...(prefix.length === 0 ? everything.all(f) : under.all({ ...f, p: prefix, end: prefixEnd(prefix) })));
    return rows.filter((r) => globsOverlap(resource, r.held));
  }

  /** Deletes the lease and stores its `lease.released` event. */
  function end(r: Row, why: LeaseEnd): Event {
    del.run(r.id);
    const data = `{"id":${JSON.stringify(r.id)},"holder":${JSON.stringify(r.holder)},"holder_name":${JSON.stringify(r.holder_name)},"resources":${r.resources},"exclusive":${r.exclusive === 1},"reason":"${why}"}`;
    return events.publish({ topic: 'lease.released', data, source: 'leases' });
  }

  /** The lease if it is live (present and not past its TTL). */
  function live(id: string, now: number): Row {
    const r = get.get(id);
    if (!r || (r.expires_ms > 0 && r.expires_ms <= now)) throw new Fault('NOT_FOUND', `lease not found: ${id}`);
    return r;
  }

  function heldBy(r: Row, holder: string): void {
    if (r.holder !== holder) throw new Fault('PERMISSION_DENIED', `lease ${r.id} is held by ${r.holder_name}`);
  }

  return {
    acquire(req: ReqOf<M, 'leases.acquire'>): ResOf<M, 'leases.acquire'> {
      const name = holderName.get(req.holder);
      if (name === undefined) throw new Fault('INVALID_ARGUMENT', 'lease requires an agent identity');
      const resources = [...new Set(req.resources)];
      for (const r of resources) if (pathGlob(r) === null) throw new Fault('INVALID_ARGUMENT', `invalid pattern: ${r}`);
      const now = Date.now();
      const f: Filter = { holder: req.holder, exclusive: req.exclusive ? 1 : 0, now };
      // Every lease in the way, oldest first, but those blocking the first refused resource
      // before the rest: the reply's message names that resource and the first lease's holder.
      let first: string | null = null;
      const conflicts = new Map<string, Candidate & { rank: number }>();
      for (const r of resources) {
        for (const c of inTheWay(r, f)) {
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
        holder_name: name,
        resources: JSON.stringify(resources),
        exclusive: req.exclusive ? 1 : 0,
        reason: req.reason,
        ttl_ms: req.ttl_ms,
        acquired_at: storageNow(now),
        expires_ms: req.ttl_ms > 0 ? now + req.ttl_ms : 0,
      };
      insert.run(row);
      for (const r of resources) insertResource.run(Buffer.from(pathGlob(r)!.prefix), row.id, r);
      revive.run({ now: storageNow(now), id: req.holder });
      const data = `{"id":${JSON.stringify(row.id)},"holder":${JSON.stringify(row.holder)},"holder_name":${JSON.stringify(name)},"resources":${row.resources},"exclusive":${req.exclusive},"reason":${JSON.stringify(req.reason)}}`;
      return { lease: decode(row), events: [events.publish({ topic: 'lease.acquired', data, source: 'leases' })] };
    },

    renew(req: ReqOf<M, 'leases.renew'>): ResOf<M, 'leases.renew'> {
      const now = Date.now();
      const r = live(req.id, now);
      heldBy(r, req.holder);
      const ttl = req.ttl_ms ?? r.ttl_ms;
      const expires = ttl > 0 ? now + ttl : 0;
      setExpiry.run(ttl, expires, r.id);
      revive.run({ now: storageNow(now), id: req.holder });
      return { lease: decode({ ...r, ttl_ms: ttl, expires_ms: expires }) };
    },

    release(req: ReqOf<M, 'leases.release'>): ResOf<M, 'leases.release'> {
      const r = live(req.id, Date.now());
      heldBy(r, req.holder);
      return { lease: decode(r), events: [end(r, 'released')] };
    },

    expire(req: ReqOf<M, 'leases.expire'>): ResOf<M, 'leases.expire'> {
      const rows = due.all(Date.now(), req.limit);
      return { released: rows.length, more: rows.length === req.limit, events: rows.map((r) => end(r, 'expired')) };
    },

    /** Ends every lease of `holder` (it went stale or was deregistered). */
    releaseHolder(holder: string, why: LeaseEnd): Event[] {
      return byHolder.all(holder).map((r) => end(r, why));
    },

    /** The holder was seen alive (heartbeat, activate): its TTL leases run from now again. */
    renewHolder(holder: string): void {
      renewHolder.run({ holder, now: Date.now() });
    },
  };
}
