import crypto from 'node:crypto';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { fault, checkPreconditions } from '../fault.js';
import { dialects, only, sql, type Dialect, type SyncTx, type Tx } from '../sql.js';
import { findVersion, keepsRings, ringCount, ringIds, ringPush, toRing } from '../../../src/shared/version-ring.js';
import { VERSION_RING_MAX } from '../../../src/shared/limits-features.js';
import { VERSION_INDEXED } from '../../../schemas/db/tables/state.js';
import type { Awaitable } from '../../../src/shared/awaitable.js';
import { dataNow, storageNow } from '../../../schemas/db/time.js';
import { STATE_CHANGES_CHANNEL } from '../../../schemas/rpc/cluster.js';
import { logChange, logChangeSync, type ChangeType } from './changes.js';

type M = WriterMethods;
/** A key's current row; on SQLite also its value's row id and its version ring (null: the file keeps the index). */
type Meta = { version: number; hash: string; hid?: number; ring?: Uint8Array | null };
type Row = Meta & { expires_at: number };

/** A state key's topic in the change log. */
const stateTopic = (key: string): string => `s:${key}`;

/** One-shot crypto.hash where Node has it (20.12+): no Hash object per value. */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'hex') => string }).hash;
export const sha256 = oneShot ? (b: Uint8Array): string => oneShot('sha256', b, 'hex') : (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

const META = dialects({
  sqlite: 'SELECT version, hash, expires_at, hid, ring FROM state WHERE key = ?',
  pg: 'SELECT version, hash, expires_at FROM state WHERE key = ?',
});
/**
 * SQLite: a version's value, written once into the version log (PostgreSQL does it
 * inside WRITE_PG). OR REPLACE: in a file keeping the (key, version) index, a leftover row of a
 * number the key reuses (none should be) is overwritten, not a failed write; it costs nothing
 * when there is none (a file keeping rings has no such constraint: its rows are found by id).
 */
const LOG_VALUE = only(
  'sqlite',
  'INSERT OR REPLACE INTO state_history (key, version, value, hash, content_type, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)',
);
/**
 * SQLite's write of the current row, metadata and the id of its value's row (PostgreSQL's is inside
 * WRITE_PG); the key's fence only grows.
 */
const UPSERT = only(
  'sqlite',
  `INSERT INTO state (key, version, hash, content_type, updated_at, updated_by, revision, expires_at, owner, fence, hid, ring)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT(key) DO UPDATE SET version = excluded.version, hash = excluded.hash,
     content_type = excluded.content_type, updated_at = excluded.updated_at, updated_by = excluded.updated_by,
     revision = excluded.revision, expires_at = excluded.expires_at, owner = excluded.owner, fence = max(state.fence, excluded.fence),
     hid = excluded.hid, ring = excluded.ring`,
);
const FENCE = sql('SELECT fence FROM state WHERE key = ?');
/** The version a write pushes out of the newest `historyKeep`, by its number (the index) or its row (rings). */
const DROP_ONE = sql('DELETE FROM state_history WHERE key = ? AND version = ?');
const DROP_ID = only('sqlite', 'DELETE FROM state_history WHERE id = ?');
const RING = only('sqlite', 'SELECT version, hid, ring FROM state WHERE key = ?');
const KEYS_RINGS_AFTER = only('sqlite', 'SELECT key, ring FROM state WHERE key > ? ORDER BY key LIMIT CAST(? AS bigint)');
const SET_RING = only('sqlite', 'UPDATE state SET ring = ? WHERE key = ?');
const VERSION_AT_ID = only('sqlite', 'SELECT value, content_type, version FROM state_history WHERE id = ? AND key = ?');
/**
 * PostgreSQL: the next version of a key in ONE statement (one round trip while the cluster write
 * lock is held): its number taken from the current row, the store-wide revision taken from its
 * counter row and the change logged, the value written into the version log, the
 * current row replaced (metadata only), and the version that falls out of the kept history
 * deleted. The parts see the same snapshot (the deleted version is one that was there before).
 * Parameters: key, topic, hash, content_type, updated_by, key, value, hash, content_type,
 * updated_at, updated_by, key, hash, content_type, updated_at, updated_by, expires_at, owner,
 * fence, key, keep, keep.
 */
const WRITE_PG = only(
  'pg',
  `WITH next AS (SELECT coalesce((SELECT version FROM state WHERE key = ?), 0) + 1 AS version),
    rev AS (UPDATE koor_counters SET value = value + 1 WHERE name = 'state_changes' RETURNING value AS id),
    logged AS (
      INSERT INTO state_changes (id, topic, type, version, hash, content_type, updated_by)
      SELECT rev.id, ?, 'put', next.version, ?, ?, ? FROM rev, next),
    valued AS (
      INSERT INTO state_history (key, version, value, hash, content_type, updated_at, updated_by)
      SELECT ?, next.version, CAST(? AS bytea), ?, ?, ?, ? FROM next
      ON CONFLICT (key, version) DO UPDATE SET value = excluded.value, hash = excluded.hash, content_type = excluded.content_type,
        updated_at = excluded.updated_at, updated_by = excluded.updated_by),
    written AS (
      INSERT INTO state (key, version, hash, content_type, updated_at, updated_by, revision, expires_at, owner, fence)
      SELECT ?, next.version, ?, ?, ?, ?, rev.id, CAST(? AS bigint), ?, CAST(? AS bigint) FROM next, rev
      ON CONFLICT (key) DO UPDATE SET version = excluded.version, hash = excluded.hash,
        content_type = excluded.content_type, updated_at = excluded.updated_at, updated_by = excluded.updated_by,
        revision = excluded.revision, expires_at = excluded.expires_at, owner = excluded.owner, fence = GREATEST(state.fence, excluded.fence)),
    dropped AS (
      DELETE FROM state_history WHERE key = ? AND CAST(? AS integer) > 0 AND version = (SELECT version FROM next) - CAST(? AS integer)
      RETURNING 1)
    SELECT (SELECT version FROM next) AS version, (SELECT count(*) FROM dropped)::int AS dropped, (SELECT id FROM rev) AS revision,
      pg_notify('${STATE_CHANGES_CHANNEL}', (SELECT id FROM rev)::text)::text AS woken`,
);
/**
 * PostgreSQL: the key expired (past its TTL, not yet swept) before a write to it, with its
 * `expire` change, sent ahead of the write without a round trip of its own. Parameters: key, now.
 */
const EXPIRE_DUE_PG = only(
  'pg',
  `WITH gone AS (DELETE FROM state WHERE key = ? AND expires_at > 0 AND expires_at <= CAST(? AS bigint) RETURNING key, version),
    hist AS (DELETE FROM state_history WHERE key IN (SELECT key FROM gone)),
    counter AS (UPDATE koor_counters SET value = value + 1 WHERE name = 'state_changes' AND EXISTS (SELECT 1 FROM gone) RETURNING value AS id),
    stored AS (INSERT INTO state_changes (id, topic, type, version) SELECT counter.id, 's:' || gone.key, 'expire', gone.version FROM counter, gone RETURNING id)
    SELECT pg_notify('${STATE_CHANGES_CHANNEL}', id::text) FROM stored`,
);
const DUE = sql('SELECT key, version FROM state WHERE expires_at > 0 AND expires_at <= ? ORDER BY expires_at LIMIT CAST(? AS bigint)');
/** Through the partial index state_owned, which `owner <> ''` lets serve it (an owner is an instance id). */
const OWNED = sql("SELECT key, version FROM state WHERE owner = ? AND owner <> ''");
const DELETE = sql('DELETE FROM state WHERE key = ?');
const DELETE_HISTORY = sql('DELETE FROM state_history WHERE key = ?');
const KEYS_AFTER = sql('SELECT key, version FROM state WHERE key > ? ORDER BY key LIMIT CAST(? AS bigint)');
const OLDEST = sql('SELECT min(version) AS lo FROM state_history WHERE key = ?');
const DROP_RANGE = sql('DELETE FROM state_history WHERE key = ? AND version BETWEEN ? AND ?');
const VERSION = sql('SELECT value, content_type FROM state_history WHERE key = ? AND version = ?');

/** The state store's writes: put, delete, rollback, history retention. */
export function stateStore(historyKeep = 0) {
  /** SQLite: whether this file keeps version rings (read once, at the first write: the file's mode is set at the writer's start). */
  let ringMode: boolean | undefined;
  const rings = (s: SyncTx): boolean => (ringMode ??= s.get(VERSION_INDEXED) === undefined);
  /** How many versions a ring keeps (a file with rings but a keep that would not: at most VERSION_RING_MAX). */
  const ringKeep = keepsRings(historyKeep) ? historyKeep : VERSION_RING_MAX;
  /** Versions writes dropped (committed) since the last retention turn reported them. */
  let droppedByWrites = 0;
  /** Dropped in the batch now running: counted once it commits, forgotten if it rolls back. */
  let droppedInBatch = 0;
  const report = () => {
    const n = droppedByWrites;
    droppedByWrites = 0;
    return n;
  };

  type Written = { key: string; version: number; hash: string; content_type: string; updated_at: string; revision: number; expires_at?: number };
  /** Where a write puts a key's expiry and owner: both cleared by a write without them. */
  type Bound = { expiresAt: number; owner: string; fence: number };
  const NONE: Bound = { expiresAt: 0, owner: '', fence: 0 };
  /**
   * Writes the next version of `key`; `known` is its current version when already read (a
   * conditional write), null when not. SQLite runs the steps one by one (each a prepared
   * statement, no round trip); PostgreSQL in one statement.
   */
  const write: Record<Dialect, (tx: Tx, key: string, value: Uint8Array, contentType: string, by: string, known: Meta | undefined | null, bound: Bound) => Awaitable<Written>> = {
    sqlite(tx, key, value, contentType, by, known, bound) {
      const s = tx.sync!;
      if (known !== null) return writeSqlite(s, key, value, contentType, by, known, bound);
      const row = s.get<Row>(META, key);
      // A key past its TTL is swept first (rare), as `current` sweeps it: then it starts over.
      if (expired(row)) return drop(tx, key, row.version, 'expire').then(() => writeSqlite(s, key, value, contentType, by, undefined, bound));
      return writeSqlite(s, key, value, contentType, by, row, bound);
    },
    async pg(tx, key, value, contentType, by, known, bound) {
      const hash = sha256(value);
      const at = storageNow();
      const k = historyKeep;
      if (known === null) tx.send(EXPIRE_DUE_PG, key, dataNow());
      const r = (await tx.get<{ version: number; dropped: number; revision: number }>(
        WRITE_PG, key, stateTopic(key), hash, contentType, by, key, value, hash, contentType, at, by, key, hash, contentType, at, by, bound.expiresAt, bound.owner, bound.fence, key, k, k,
      ))!;
      droppedInBatch += r.dropped;
      return written(key, r.version, hash, contentType, at, r.revision, bound);
    },
  };

  /**
   * SQLite's write of a key's next version, each statement answered at once (no promise per
   * statement). `cur` is the key's current row, already read (undefined: none).
   */
  function writeSqlite(tx: SyncTx, key: string, value: Uint8Array, contentType: string, by: string, cur: Meta | undefined, bound: Bound): Written {
    const hash = sha256(value);
    const at = storageNow();
    const version = cur ? cur.version + 1 : 1;
    const revision = logChangeSync(tx, stateTopic(key), 'put', version, hash, contentType, by);
    const hid = tx.insert(LOG_VALUE, key, version, value, hash, contentType, at, by);
    let ring: Uint8Array | null = null;
    if (rings(tx)) {
      const next = ringPush(cur?.ring ?? null, hid, ringKeep);
      ring = next.ring;
      for (const id of next.dropped) droppedInBatch += tx.run(DROP_ID, id);
    }
    tx.run(UPSERT, key, version, hash, contentType, at, by, revision, bound.expiresAt, bound.owner, bound.fence, hid, ring);
    if (ring === null && historyKeep > 0 && version - historyKeep >= 1) droppedInBatch += tx.run(DROP_ONE, key, version - historyKeep);
    return written(key, version, hash, contentType, at, revision, bound);
  }

  /** A write's reply; `expires_at` the writer's own (a front caching the value never serves it past that). */
  const written = (key: string, version: number, hash: string, contentType: string, at: string, revision: number, bound: Bound): Written => {
    const w: Written = { key, version, hash, content_type: contentType, updated_at: at, revision };
    if (bound.expiresAt > 0) w.expires_at = bound.expiresAt;
    return w;
  };

  /** Past its TTL and not yet swept: the key reads as absent. */
  const expired = (row: Row | undefined): row is Row => row !== undefined && row.expires_at > 0 && row.expires_at <= dataNow();

  /** The key's current row, or undefined when it has none or it expired (then swept now, with its `expire` change). */
  async function current(tx: Tx, key: string): Promise<Meta | undefined> {
    const cur = await tx.get<Row>(META, key);
    if (expired(cur)) {
      await drop(tx, key, cur.version, 'expire');
      return undefined;
    }
    return cur;
  }

  /** Deletes a key and its history, logging the change; its revision. */
  async function drop(tx: Tx, key: string, version: number, type: ChangeType, by = ''): Promise<number> {
    const s = tx.sync;
    if (s !== null && rings(s)) {
      // Its versions' rows by their ids: the log has no (key, version) index to find them by key.
      const ring = s.get<{ ring: Uint8Array | null }>(RING, key)?.ring ?? null;
      s.run(DELETE, key);
      if (ring !== null) for (const id of ringIds(ring)) s.run(DROP_ID, id);
    } else {
      await tx.run(DELETE, key);
      await tx.run(DELETE_HISTORY, key);
    }
    return logChange(tx, stateTopic(key), type, version, '', '', by);
  }

  /** SQLite with rings: a kept version's value, found through the key's ring. */
  function versionByRing(s: SyncTx, key: string, version: number): { value: Uint8Array; content_type: string } | undefined {
    const row = s.get<{ version: number; hid: number; ring: Uint8Array | null }>(RING, key);
    if (!row || row.ring === null) return undefined;
    return findVersion(row.ring, row.version, row.hid, version, (id) => s.get<{ value: Uint8Array; content_type: string; version: number }>(VERSION_AT_ID, id, key));
  }

  /** pruneHistory on a file with rings: each ring longer than `keep` cut to it, its oldest rows deleted. */
  function pruneRings(s: SyncTx, req: ReqOf<M, 'state.prune_history'>): ResOf<M, 'state.prune_history'> {
    let deleted = 0;
    let next = req.after;
    const keys = s.all<{ key: string; ring: Uint8Array | null }>(KEYS_RINGS_AFTER, req.after, req.keys);
    for (const { key, ring } of keys) {
      if (ring !== null && req.keep > 0 && ringCount(ring) > req.keep) {
        const ids = ringIds(ring);
        const cut = Math.min(ids.length - req.keep, req.rows - deleted);
        for (const id of ids.slice(0, cut)) deleted += s.run(DROP_ID, id);
        s.run(SET_RING, toRing(ids.slice(cut)), key);
        // Out of budget within this key: the next turn comes back to it.
        if (ids.length - cut > req.keep) return { deleted, next, wrapped: false, dropped_by_writes: report() };
      }
      next = key;
      if (deleted >= req.rows) return { deleted, next, wrapped: false, dropped_by_writes: report() };
    }
    const wrapped = keys.length < req.keys;
    return { deleted, next: wrapped ? '' : next, wrapped, dropped_by_writes: report() };
  }

  /** A put's expiry and owner from its request. */
  const boundOf = (req: { ttl_ms?: number; owner?: string; fence?: number }): Bound =>
    req.ttl_ms === undefined && req.owner === undefined && req.fence === undefined ? NONE : { expiresAt: req.ttl_ms ? dataNow() + req.ttl_ms : 0, owner: req.owner ?? '', fence: req.fence ?? 0 };

  return {
    /** The dispatcher's end of a batch transaction: whether it committed. */
    endBatch(committed: boolean): void {
      if (committed) droppedByWrites += droppedInBatch;
      droppedInBatch = 0;
    },

    /** On SQLite an unconditional put is answered at once (no promise). */
    put(tx: Tx, req: ReqOf<M, 'state.put'>): Awaitable<ResOf<M, 'state.put'>> {
      if (req.if_match === undefined && req.if_none_match === undefined) return write[tx.dialect](tx, req.key, req.value, req.content_type, req.updated_by, null, boundOf(req));
      // A conditional write reads the current version first (else `write` reads it, or not at all).
      return current(tx, req.key).then((cur) => {
        checkPreconditions(cur, req.if_match, req.if_none_match);
        return write[tx.dialect](tx, req.key, req.value, req.content_type, req.updated_by, cur, boundOf(req));
      });
    },

    async delete(tx: Tx, req: ReqOf<M, 'state.delete'>): Promise<ResOf<M, 'state.delete'>> {
      const cur = await current(tx, req.key);
      if (!cur) throw fault('KEY_NOT_FOUND', req.key);
      checkPreconditions(cur, req.if_match, undefined);
      return { key: req.key, revision: await drop(tx, req.key, cur.version, 'delete', req.updated_by ?? '') };
    },

    /** Up to `limit` keys past their TTL deleted, each with its `expire` change. */
    async expire(tx: Tx, req: ReqOf<M, 'state.expire'>): Promise<ResOf<M, 'state.expire'>> {
      const due = await tx.all<{ key: string; version: number }>(DUE, dataNow(), req.limit);
      for (const d of due) await drop(tx, d.key, d.version, 'expire');
      return { expired: due.length, more: due.length === req.limit };
    },

    /** The ephemeral keys of an agent that deregistered or went stale, deleted with their `expire` changes. */
    async dropOwned(tx: Tx, owner: string): Promise<number> {
      const owned = await tx.all<{ key: string; version: number }>(OWNED, owner);
      for (const o of owned) await drop(tx, o.key, o.version, 'expire');
      return owned.length;
    },

    /** The largest fencing token a write of `key` carried (0: none, or no key). */
    async fenceOf(tx: Tx, key: string): Promise<number> {
      return (await tx.get<{ fence: number }>(FENCE, key))?.fence ?? 0;
    },

    /** The current row as a transaction's compare sees it (expired = absent). */
    current,
    /** A put inside a transaction (POST /api/txn): the same write as state.put. */
    writeIn(tx: Tx, key: string, value: Uint8Array, contentType: string, by: string, bound: { ttl_ms?: number; fence?: number }) {
      return write[tx.dialect](tx, key, value, contentType, by, null, boundOf(bound));
    },
    drop,

    /**
     * One bounded retention turn: keys after the cursor, logged versions older than the newest
     * `keep` (current included), at most `rows` deleted. Writes keep steady state themselves
     * (DROP_ONE); this clears backlogs (a lowered keep, an upgraded data file) a little per turn.
     */
    async pruneHistory(tx: Tx, req: ReqOf<M, 'state.prune_history'>): Promise<ResOf<M, 'state.prune_history'>> {
      if (tx.sync !== null && rings(tx.sync)) return pruneRings(tx.sync, req);
      let deleted = 0;
      let next = req.after;
      const keys = await tx.all<{ key: string; version: number }>(KEYS_AFTER, req.after, req.keys);
      for (const { key, version } of keys) {
        const upto = version - req.keep; // versions ≤ upto go
        const lo = upto >= 1 ? ((await tx.get<{ lo: number | null }>(OLDEST, key))?.lo ?? null) : null;
        if (lo !== null && lo <= upto) {
          const hi = Math.min(upto, lo + (req.rows - deleted) - 1);
          deleted += await tx.run(DROP_RANGE, key, lo, hi);
          // Out of budget within this key: the next turn comes back to it.
          if (hi < upto) return { deleted, next, wrapped: false, dropped_by_writes: report() };
        }
        next = key;
        if (deleted >= req.rows) return { deleted, next, wrapped: false, dropped_by_writes: report() };
      }
      const wrapped = keys.length < req.keys;
      return { deleted, next: wrapped ? '' : next, wrapped, dropped_by_writes: report() };
    },

    async rollback(tx: Tx, req: ReqOf<M, 'state.rollback'>): Promise<ResOf<M, 'state.rollback'>> {
      const target = tx.sync !== null && rings(tx.sync) ? versionByRing(tx.sync, req.key, req.version) : await tx.get<{ value: Uint8Array; content_type: string }>(VERSION, req.key, req.version);
      if (!target) throw fault('VERSION_NOT_FOUND', req.version, req.key);
      const res = await write[tx.dialect](tx, req.key, target.value, target.content_type, `rollback:v${req.version}`, null, req.fence === undefined ? NONE : { ...NONE, fence: req.fence });
      return { ...res, rolled_back: req.version, value: target.value };
    },
  };
}
