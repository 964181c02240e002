import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { Event, LeaseRow, WriterMethods } from '../../../schemas/rpc/writer.js';
import { LEASE } from '../../../schemas/db/tables/leases.js';
import {
  LEASE_KEYS_STARTING_PG,
  LEASE_KEYS_UNDER,
  LEASE_LIVE,
  REVIVE,
  leaseCandidates,
  leaseKey,
  leaseKeyFloor,
  type LeaseCandidate as Candidate,
  type LeaseDbRow as Row,
} from '../../../schemas/db/leases.js';
import { globsOverlap, pathGlob, prefixEnd } from '../../../src/shared/path-glob.js';
import { LeaseKeys } from './lease-keys.js';
import { uuidv7 } from '../../../src/shared/uuid7.js';
import { fault } from '../fault.js';
import { dialects, sql, type Dialect, type Tx } from '../sql.js';
import { dataNow, storageNow } from '../../../schemas/db/time.js';
import type { EventStore } from './events.js';

type M = WriterMethods;
/** Why a lease ended (the `reason` of its `lease.released` event). */
export type LeaseEnd = 'released' | 'expired' | 'stale' | 'deregistered';
type Filter = { project: string; holder: string; exclusive: number; now: number };

const COLS = LEASE.columns;
const decode = LEASE.decode;

/** A lease event's data: the lease, and why it was taken or ended. */
const eventData = (r: Row, reason: string): string =>
  `{"id":${JSON.stringify(r.id)},"holder":${JSON.stringify(r.holder)},"holder_name":${JSON.stringify(r.holder_name)},"resources":${r.resources},"exclusive":${r.exclusive === 1},"reason":${JSON.stringify(reason)},"project":${JSON.stringify(r.project)}}`;

/**
 * The holder is alive: active, seen now. Sent, not awaited — its result is not read, and on
 * PostgreSQL it rides with the transaction's next statement instead of a round trip of its own.
 */
export const revive = (tx: Tx, id: string, now: string): void => tx.send(REVIVE, now, id, now);

const GET = sql(`SELECT ${COLS} FROM leases WHERE id = ?`);
/** Acquisition order: SQLite's rowid, PostgreSQL's seq. */
const BY_HOLDER = dialects({
  sqlite: `SELECT ${COLS} FROM leases WHERE holder = ? ORDER BY rowid`,
  pg: `SELECT ${COLS} FROM leases WHERE holder = ? ORDER BY seq`,
});
/** Through the expires_ms index, ties in acquisition order. */
const DUE = dialects({
  sqlite: `SELECT ${COLS} FROM leases WHERE expires_ms > 0 AND expires_ms <= ? ORDER BY expires_ms LIMIT CAST(? AS bigint)`,
  pg: `SELECT ${COLS} FROM leases WHERE expires_ms > 0 AND expires_ms <= ? ORDER BY expires_ms, seq LIMIT CAST(? AS bigint)`,
});
const INSERT = sql(`INSERT INTO leases (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
const SET_FENCE = sql('UPDATE leases SET fence = ? WHERE id = ?');
const INSERT_RESOURCE = sql('INSERT INTO lease_resources (prefix, lease_id, resource) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
const DELETE = sql('DELETE FROM leases WHERE id = ?');
/** The tasks a lease refused a claim are in the claim order again once it ends (tasks.ts, NOT_PASSED). */
const UNBLOCK = sql("UPDATE tasks SET blocked_by = '' WHERE blocked_by = ? AND blocked_by <> ''");
const SET_EXPIRY = sql('UPDATE leases SET ttl_ms = ?, expires_ms = ? WHERE id = ?');
/** An auto-lease's TTL is an idle lifetime: only its holder's edits of the file renew it. (`+`: see LEASE_LIVE.) */
const RENEW_HOLDER = sql('UPDATE leases SET expires_ms = ? + ttl_ms WHERE holder = ? AND ttl_ms > 0 AND +expires_ms > ? AND auto = 0');
const SHIFT = sql('UPDATE leases SET expires_ms = expires_ms + ? WHERE expires_ms > 0');
const HOLDER_NAME = sql('SELECT name FROM instances WHERE id = ?');
/** The live leases of other holders in a project (a claim's exclusive task lease conflicts with any of them). Parameters: project, holder, now. */
const LIVE_OTHERS = sql(`SELECT ${COLS} FROM leases l WHERE l.project = ? AND l.holder <> ? AND ${LEASE_LIVE}`);
/** The projects that hold leases (a fenced state write, whose key is in no project, asks each). */
const PROJECTS = sql('SELECT DISTINCT project FROM leases');
/**
 * A holder's auto-leases (one file each), which a task lease of the same holder may take over.
 * Through the holder's index: SQLite, without statistics, took the project's (every lease of the
 * project read at each claim; `+project` is matched to no index).
 */
const AUTO_OF = dialects({
  sqlite: `SELECT ${COLS} FROM leases WHERE holder = ? AND auto = 1 AND +project = ?`,
  pg: `SELECT ${COLS} FROM leases WHERE holder = ? AND auto = 1 AND project = ?`,
});
/** Denials an auto-lease caused now wait on the lease that took it over (a UUID replaced in the JSON list). */
const REPOINT_DENIED = sql("UPDATE hook_sessions SET denied = replace(denied, ?, ?) WHERE denied LIKE ?");

/**
 * Leases of other holders, live, that could be in the way of a request: those at an index key the
 * request's prefix starts with, and those under the prefix. SQLite reads only the keys its
 * writer's copy of them holds (`candidates` below), PostgreSQL both sets in one statement (one
 * round trip). Their order does not matter: conflicts are sorted by seq. Filter parameters:
 * holder, exclusive, now.
 */
const IN_THE_WAY = `l.holder <> ? AND (l.exclusive = 1 OR CAST(? AS integer) = 1) AND ${LEASE_LIVE}`;
const AT_KEY = leaseCandidates({ sqlite: 'r.prefix = ?', pg: '' }, IN_THE_WAY);
const UNDER = leaseCandidates({ sqlite: LEASE_KEYS_UNDER, pg: '' }, IN_THE_WAY);
/** Parameters: key, its floor, its length, key, key end, then the filter. */
const KEYED_PG = leaseCandidates({ sqlite: '', pg: `${LEASE_KEYS_STARTING_PG} OR (${LEASE_KEYS_UNDER})` }, IN_THE_WAY);
/**
 * Candidates for `key` (leaseKey: its project first, so only that project's leases are found).
 * SQLite looks the keys up in the writer's copy of them (lease-keys.ts) and reads only those it
 * found; PostgreSQL, where other nodes insert, reads the index.
 */
const candidates: Record<Dialect, (tx: Tx, key: Buffer, floor: number, f: Filter, keys: LeaseKeys) => Promise<Candidate[]>> = {
  async sqlite(tx, key, floor, f, keys) {
    const db = tx.sync!;
    const rows: Candidate[] = [];
    for (const k of keys.prefixesOf(db, key, floor)) rows.push(...db.all<Candidate>(AT_KEY, k, f.holder, f.exclusive, f.now));
    if (keys.anyUnder(db, key)) rows.push(...db.all<Candidate>(UNDER, key, prefixEnd(key), f.holder, f.exclusive, f.now));
    return rows;
  },
  async pg(tx, key, floor, f) {
    return tx.all<Candidate>(KEYED_PG, key, floor, key.length, key, prefixEnd(key), f.holder, f.exclusive, f.now);
  },
};

/**
 * Leases on path globs. Every decision — conflict check and grant, renew, release,
 * expiry — runs here, inside the writer's transaction, so two agents can never both be granted
 * overlapping exclusive leases. Expired leases (TTL past, not yet swept) count as gone everywhere.
 */
export function leaseStore(events: EventStore) {
  const keys = new LeaseKeys();
  /** Live leases of other holders in `f.project` with a resource that overlaps `resource`. */
  async function inTheWay(tx: Tx, resource: string, f: Filter): Promise<Candidate[]> {
    const rows = await candidates[tx.dialect](tx, leaseKey(f.project, pathGlob(resource)!.prefix), leaseKeyFloor(f.project), f, keys);
    return rows.filter((r) => globsOverlap(resource, r.held));
  }

  /** Deletes the lease and stores its `lease.released` event. */
  async function end(tx: Tx, r: Row, why: LeaseEnd): Promise<Event> {
    await tx.run(DELETE, r.id);
    tx.send(UNBLOCK, r.id);
    return events.publish(tx, { topic: 'lease.released', data: eventData(r, why), source: 'leases' });
  }

  async function endAll(tx: Tx, rows: Row[], why: LeaseEnd): Promise<Event[]> {
    const out: Event[] = [];
    for (const r of rows) out.push(await end(tx, r, why));
    return out;
  }

  /**
   * The lease if it is live (present and not past its TTL). With a fencing token: a
   * lease gone (expired, its holder declared stale) or with another token refuses it with 409.
   */
  async function live(tx: Tx, id: string, now: number, fence?: number): Promise<Row> {
    const r = await tx.get<Row>(GET, id);
    const gone = !r || (r.expires_ms > 0 && r.expires_ms <= now);
    if (fence !== undefined && (gone || r.fence !== fence)) throw fault('FENCE_OUTDATED', `lease ${id}`, fence, gone ? 0 : r.fence);
    if (gone) throw fault('LEASE_NOT_FOUND', id);
    return r;
  }

  function heldBy(r: Row, holder: string): void {
    if (r.holder !== holder) throw fault('LEASE_HELD_BY_OTHER', r.id, r.holder_name);
  }

  return {
    async acquire(tx: Tx, req: ReqOf<M, 'leases.acquire'>): Promise<ResOf<M, 'leases.acquire'>> {
      // The holder's name is asked now and read once the paths are checked: on PostgreSQL the
      // question rides with the first lease check (one round trip less under the write lock).
      const named = tx.get<{ name: string }>(HOLDER_NAME, req.holder);
      named.catch(() => {});
      const holderName = async (): Promise<string> => {
        const n = (await named)?.name;
        if (n === undefined) throw fault('IDENTITY_REQUIRED', 'lease');
        return n;
      };
      const resources = [...new Set(req.resources)];
      const invalid = resources.find((r) => pathGlob(r) === null);
      if (invalid !== undefined) {
        await holderName();
        throw fault('INVALID_PATTERN', invalid);
      }
      const now = dataNow();
      const auto = req.auto === true;
      // An auto-lease reads every live lease on its paths, the holder's own among them (no holder is named ''), in one pass.
      const f: Filter = { project: req.project, holder: auto ? '' : req.holder, exclusive: auto || req.exclusive ? 1 : 0, now };
      // Every lease in the way, oldest first, but those blocking the first refused resource
      // before the rest: the reply's message names that resource and the first lease's holder.
      let first: string | null = null;
      const conflicts = new Map<string, Candidate & { rank: number }>();
      const own = new Map<string, Candidate>();
      for (const r of resources) {
        for (const c of await inTheWay(tx, r, f)) {
          if (c.holder === req.holder) {
            own.set(c.id, c);
            continue;
          }
          first ??= r;
          if (!conflicts.has(c.id)) conflicts.set(c.id, { ...c, rank: r === first ? 0 : 1 });
        }
      }
      const name = await holderName();
      if (first !== null) {
        const leases = [...conflicts.values()].sort((a, b) => a.rank - b.rank || a.seq - b.seq).map(decode);
        return { conflict: { resource: first, leases } };
      }
      if (own.size > 0) return { held: [...own.values()].sort((a, b) => a.seq - b.seq).map(decode) };
      const row: Row = {
        // In time order: the lease table's key and its resources' index take each new lease at their end (uuid7.ts).
        id: uuidv7(now),
        holder: req.holder,
        holder_name: name,
        resources: JSON.stringify(resources),
        exclusive: req.exclusive ? 1 : 0,
        reason: req.reason,
        ttl_ms: req.ttl_ms,
        acquired_at: storageNow(now),
        expires_ms: req.ttl_ms > 0 ? now + req.ttl_ms : 0,
        fence: 0,
        auto: req.auto === true ? 1 : 0,
        project: req.project,
      };
      const acquired = await events.publish(tx, { topic: 'lease.acquired', data: eventData(row, req.reason), source: 'leases' });
      // Its fencing token: the acquisition's event id, which only grows.
      row.fence = acquired.id;
      await tx.run(INSERT, row.id, row.holder, row.holder_name, row.resources, row.exclusive, row.reason, row.ttl_ms, row.acquired_at, row.expires_ms, row.fence, row.auto, row.project);
      for (const r of resources) {
        const key = leaseKey(row.project, pathGlob(r)!.prefix);
        await tx.run(INSERT_RESOURCE, key, row.id, r);
        keys.add(key);
      }
      revive(tx, req.holder, row.acquired_at);
      return { lease: decode(row), events: [acquired] };
    },

    async renew(tx: Tx, req: ReqOf<M, 'leases.renew'>): Promise<ResOf<M, 'leases.renew'>> {
      const now = dataNow();
      const r = await live(tx, req.id, now, req.fence);
      heldBy(r, req.holder);
      const ttl = req.ttl_ms ?? r.ttl_ms;
      const expires = ttl > 0 ? now + ttl : 0;
      tx.send(SET_EXPIRY, ttl, expires, r.id);
      revive(tx, req.holder, storageNow(now));
      return { lease: decode({ ...r, ttl_ms: ttl, expires_ms: expires }) };
    },

    async release(tx: Tx, req: ReqOf<M, 'leases.release'>): Promise<ResOf<M, 'leases.release'>> {
      const r = await live(tx, req.id, dataNow(), req.fence);
      heldBy(r, req.holder);
      return { lease: decode(r), events: [await end(tx, r, 'released')] };
    },

    async expire(tx: Tx, req: ReqOf<M, 'leases.expire'>): Promise<ResOf<M, 'leases.expire'>> {
      const rows = await tx.all<Row>(DUE, dataNow(), req.limit);
      return { released: rows.length, more: rows.length === req.limit, events: await endAll(tx, rows, 'expired') };
    },

    async shift(tx: Tx, req: ReqOf<M, 'leases.shift'>): Promise<ResOf<M, 'leases.shift'>> {
      return { shifted: await tx.run(SHIFT, req.by_ms) };
    },

    /** Ends the lease `id` if it still exists (a task's lease, with its task): its event, or null. */
    async endIfHeld(tx: Tx, id: string, why: LeaseEnd): Promise<Event | null> {
      const r = await tx.get<Row>(GET, id);
      return r ? end(tx, r, why) : null;
    },

    /** Gives the lease `id` the fencing token `fence` (a task's lease takes its claim's). */
    async setFence(tx: Tx, id: string, fence: number): Promise<void> {
      await tx.run(SET_FENCE, fence, id);
    },

    /**
     * Other holders' live leases in `project`: read once by a claim, which then skips a task whose
     * paths overlap one without a query per candidate (on PostgreSQL each is a round trip: 50
     * concurrent claims over 40 tasks missed their deadlines in a loaded cluster run).
     */
    async liveOfOthers(tx: Tx, project: string, holder: string): Promise<LeaseRow[]> {
      return (await tx.all<Row>(LIVE_OTHERS, project, holder, dataNow())).map(decode);
    },

    /**
     * A task lease takes over its holder's auto-leases on the task's files: they end
     * now (`lease.released`, reason `released`) instead of lasting their idle lifetime past the
     * task, so a shared file is free the moment the task ends; an agent refused an edit by one of
     * them is told the file is free when the task lease ends.
     */
    async supersedeAuto(tx: Tx, holder: string, project: string, paths: readonly string[], by: string): Promise<Event[]> {
      const rows = (await tx.all<Row>(AUTO_OF, holder, project)).filter((r) => (JSON.parse(r.resources) as string[]).some((f) => paths.some((p) => globsOverlap(p, f))));
      const out: Event[] = [];
      for (const r of rows) {
        await tx.run(REPOINT_DENIED, r.id, by, `%${r.id}%`);
        out.push(await end(tx, r, 'released'));
      }
      return out;
    },

    /** Ends every lease of `holder` (it went stale or was deregistered). */
    releaseHolder: async (tx: Tx, holder: string, why: LeaseEnd): Promise<Event[]> => endAll(tx, await tx.all<Row>(BY_HOLDER, holder), why),

    /**
     * The largest fencing token of the live leases whose resources overlap `key` (0 when none):
     * a state write fenced with an older one comes from a holder that lost its lease.
     * State keys are one namespace for every project: the leases of each count.
     */
    async fenceOver(tx: Tx, key: string): Promise<number> {
      if (pathGlob(key) === null) return 0;
      let max = 0;
      const now = dataNow();
      for (const { project } of await tx.all<{ project: string }>(PROJECTS)) {
        for (const c of await inTheWay(tx, key, { project, holder: '', exclusive: 1, now })) if (c.fence > max) max = c.fence;
      }
      return max;
    },

    /** The holder was seen alive (heartbeat, activate): its TTL leases run from now again. */
    async renewHolder(tx: Tx, holder: string): Promise<void> {
      const now = dataNow();
      await tx.run(RENEW_HOLDER, now, holder, now);
    },
  };
}
