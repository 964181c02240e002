import crypto from 'node:crypto';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow, type DB } from '../db.js';
import { Fault, checkPreconditions } from '../fault.js';

type M = WriterMethods;

interface Row {
  value: Uint8Array;
  version: number;
  hash: string;
  content_type: string;
}

/** One-shot crypto.hash where Node has it (20.12+): no Hash object per value. */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'hex') => string }).hash;
export const sha256 = oneShot ? (b: Uint8Array): string => oneShot('sha256', b, 'hex') : (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** Prepared statements and write transactions of the state store (SPEC §2.2, §7-5, §8.1). */
export function stateStore(db: DB, historyKeep = 0) {
  const meta = db.prepare<[string], { version: number; hash: string }>('SELECT version, hash FROM state WHERE key = ?');
  const archive = db.prepare(
    `INSERT OR IGNORE INTO state_history (key, version, value, hash, content_type, updated_at, updated_by)
     SELECT key, version, value, hash, content_type, updated_at, updated_by FROM state WHERE key = ?`,
  );
  const upsert = db.prepare<[string, Uint8Array, number, string, string, string, string]>(
    `INSERT INTO state (key, value, version, hash, content_type, updated_at, updated_by)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = excluded.version, hash = excluded.hash,
       content_type = excluded.content_type, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
  );
  const del = db.prepare('DELETE FROM state WHERE key = ?');
  // Retention (SPEC §8.10): the version a write pushes out of the newest `historyKeep`.
  const dropOne = db.prepare<[string, number]>('DELETE FROM state_history WHERE key = ? AND version = ?');
  const keysAfter = db.prepare<[string, number], { key: string; version: number }>('SELECT key, version FROM state WHERE key > ? ORDER BY key LIMIT ?');
  const oldest = db.prepare<[string], number | null>('SELECT min(version) FROM state_history WHERE key = ?').pluck();
  const dropRange = db.prepare<[string, number, number]>('DELETE FROM state_history WHERE key = ? AND version BETWEEN ? AND ?');
  /** Versions writes dropped (committed) since the last retention turn reported them. */
  let droppedByWrites = 0;
  /** Dropped in the batch now running: counted once it commits, forgotten if it rolls back. */
  let droppedInBatch = 0;
  const report = () => {
    const n = droppedByWrites;
    droppedByWrites = 0;
    return n;
  };
  const delHistory = db.prepare('DELETE FROM state_history WHERE key = ?');
  const versionRow = db.prepare<[string, number, string, number], Row>(
    `SELECT value, version, hash, content_type FROM state WHERE key = ? AND version = ?
     UNION ALL
     SELECT value, version, hash, content_type FROM state_history WHERE key = ? AND version = ?
     LIMIT 1`,
  );

  function write(key: string, value: Uint8Array, contentType: string, updatedBy: string, cur: { version: number } | undefined) {
    if (cur) archive.run(key);
    const version = cur ? cur.version + 1 : 1;
    const hash = sha256(value);
    const updatedAt = storageNow();
    // Positional parameters: binding an object looks each name up.
    upsert.run(key, value, version, hash, contentType, updatedAt, updatedBy);
    if (historyKeep > 0 && version - historyKeep >= 1) droppedInBatch += dropOne.run(key, version - historyKeep).changes;
    return { key, version, hash, content_type: contentType, updated_at: updatedAt };
  }

  return {
    /** The dispatcher's end of a batch transaction: whether it committed. */
    endBatch(committed: boolean): void {
      if (committed) droppedByWrites += droppedInBatch;
      droppedInBatch = 0;
    },

    put(req: ReqOf<M, 'state.put'>): ResOf<M, 'state.put'> {
      const cur = meta.get(req.key);
      checkPreconditions(cur, req.if_match, req.if_none_match);
      return write(req.key, req.value, req.content_type, req.updated_by, cur);
    },

    delete(req: ReqOf<M, 'state.delete'>): ResOf<M, 'state.delete'> {
      const cur = meta.get(req.key);
      if (!cur) throw new Fault('NOT_FOUND', `key not found: ${req.key}`);
      checkPreconditions(cur, req.if_match, undefined);
      del.run(req.key);
      delHistory.run(req.key);
      return { key: req.key };
    },

    /**
     * One bounded retention turn: keys after the cursor, archived versions older than the newest
     * `keep` (current included), at most `rows` deleted. Writes keep steady state themselves
     * (dropOne); this clears backlogs (a lowered keep, an upgraded data file) a little per turn.
     */
    pruneHistory(req: ReqOf<M, 'state.prune_history'>): ResOf<M, 'state.prune_history'> {
      let deleted = 0;
      let next = req.after;
      const keys = keysAfter.all(req.after, req.keys);
      for (const { key, version } of keys) {
        const upto = version - req.keep; // archived versions ≤ upto go
        const lo = upto >= 1 ? oldest.get(key) : null;
        if (lo !== null && lo !== undefined && lo <= upto) {
          const hi = Math.min(upto, lo + (req.rows - deleted) - 1);
          deleted += dropRange.run(key, lo, hi).changes;
          // Out of budget within this key: the next turn comes back to it.
          if (hi < upto) return { deleted, next, wrapped: false, dropped_by_writes: report() };
        }
        next = key;
        if (deleted >= req.rows) return { deleted, next, wrapped: false, dropped_by_writes: report() };
      }
      const wrapped = keys.length < req.keys;
      return { deleted, next: wrapped ? '' : next, wrapped, dropped_by_writes: report() };
    },

    rollback(req: ReqOf<M, 'state.rollback'>): ResOf<M, 'state.rollback'> {
      const target = versionRow.get(req.key, req.version, req.key, req.version);
      if (!target) throw new Fault('NOT_FOUND', `version ${req.version} not found for key: ${req.key}`);
      const cur = meta.get(req.key);
      const res = write(req.key, target.value, target.content_type, `rollback:v${req.version}`, cur);
      return { ...res, rolled_back: req.version, value: target.value };
    },
  };
}
