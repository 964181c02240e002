import type { TransactionSql } from 'postgres';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow } from '../../writer/db.js';
import { Fault, checkPreconditions } from '../../writer/fault.js';
import { sha256 } from '../../writer/stores/state.js';
import { bytea } from '../tx.js';

type M = WriterMethods;
type Tx = TransactionSql;

interface Meta {
  version: number;
  hash: string;
}

/** The state store on PostgreSQL: workers/writer/stores/state.ts, statement for statement. */
export function pgStateStore(historyKeep = 0) {
  let droppedByWrites = 0;
  let droppedInBatch = 0;
  const report = () => {
    const n = droppedByWrites;
    droppedByWrites = 0;
    return n;
  };
  const meta = async (tx: Tx, key: string): Promise<Meta | undefined> => (await tx<Meta[]>`SELECT version, hash FROM state WHERE key = ${key}`)[0];

  /**
   * The next version of `key` in ONE statement (one round trip while the cluster write lock is
   * held): its number taken from the current row, the current row archived into history, the row
   * replaced, and the version that falls out of the kept history deleted. The parts see the same
   * snapshot, so the archive copies the row as it was before. Keeping 1 version, the previous one
   * would be archived and dropped at once: it is not archived, and counts as dropped (as on SQLite).
   */
  async function write(tx: Tx, key: string, value: Uint8Array, contentType: string, updatedBy: string) {
    const hash = sha256(value);
    const updatedAt = storageNow();
    const [r] = await tx<{ version: number; dropped: number }[]>`
      WITH next AS (SELECT coalesce((SELECT version FROM state WHERE key = ${key}), 0) + 1 AS version),
      archived AS (
        INSERT INTO state_history (key, version, value, hash, content_type, updated_at, updated_by)
        SELECT key, version, value, hash, content_type, updated_at, updated_by FROM state WHERE key = ${key} AND ${historyKeep}::int <> 1
        ON CONFLICT DO NOTHING),
      written AS (
        INSERT INTO state (key, value, version, hash, content_type, updated_at, updated_by)
        SELECT ${key}, ${bytea(value)}, version, ${hash}, ${contentType}, ${updatedAt}, ${updatedBy} FROM next
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, hash = excluded.hash,
          content_type = excluded.content_type, updated_at = excluded.updated_at, updated_by = excluded.updated_by),
      dropped AS (
        DELETE FROM state_history WHERE key = ${key} AND ${historyKeep}::int > 0 AND version = (SELECT version FROM next) - ${historyKeep}::int
        RETURNING 1)
      SELECT (SELECT version FROM next) AS version, (SELECT count(*) FROM dropped)::int AS dropped`;
    const { version } = r!;
    if (historyKeep > 0 && version - historyKeep >= 1) droppedInBatch += historyKeep === 1 ? 1 : r!.dropped;
    return { key, version, hash, content_type: contentType, updated_at: updatedAt };
  }

  return {
    endBatch(committed: boolean): void {
      if (committed) droppedByWrites += droppedInBatch;
      droppedInBatch = 0;
    },

    async put(tx: Tx, req: ReqOf<M, 'state.put'>): Promise<ResOf<M, 'state.put'>> {
      // The current version is read first only when the write is conditional: a plain PUT is one statement.
      if (req.if_match !== undefined || req.if_none_match !== undefined) checkPreconditions(await meta(tx, req.key), req.if_match, req.if_none_match);
      return write(tx, req.key, req.value, req.content_type, req.updated_by);
    },

    async delete(tx: Tx, req: ReqOf<M, 'state.delete'>): Promise<ResOf<M, 'state.delete'>> {
      const cur = await meta(tx, req.key);
      if (!cur) throw new Fault('NOT_FOUND', `key not found: ${req.key}`);
      checkPreconditions(cur, req.if_match, undefined);
      await tx`DELETE FROM state WHERE key = ${req.key}`;
      await tx`DELETE FROM state_history WHERE key = ${req.key}`;
      return { key: req.key };
    },

    async pruneHistory(tx: Tx, req: ReqOf<M, 'state.prune_history'>): Promise<ResOf<M, 'state.prune_history'>> {
      let deleted = 0;
      let next = req.after;
      const keys = await tx<{ key: string; version: number }[]>`SELECT key, version FROM state WHERE key > ${req.after} ORDER BY key LIMIT ${req.keys}`;
      for (const { key, version } of keys) {
        const upto = version - req.keep;
        const lo = upto >= 1 ? ((await tx<{ lo: number | null }[]>`SELECT min(version) AS lo FROM state_history WHERE key = ${key}`)[0]?.lo ?? null) : null;
        if (lo !== null && lo <= upto) {
          const hi = Math.min(upto, lo + (req.rows - deleted) - 1);
          deleted += (await tx`DELETE FROM state_history WHERE key = ${key} AND version BETWEEN ${lo} AND ${hi}`).count;
          if (hi < upto) return { deleted, next, wrapped: false, dropped_by_writes: report() };
        }
        next = key;
        if (deleted >= req.rows) return { deleted, next, wrapped: false, dropped_by_writes: report() };
      }
      const wrapped = keys.length < req.keys;
      return { deleted, next: wrapped ? '' : next, wrapped, dropped_by_writes: report() };
    },

    async rollback(tx: Tx, req: ReqOf<M, 'state.rollback'>): Promise<ResOf<M, 'state.rollback'>> {
      const [target] = await tx<{ value: Buffer; content_type: string }[]>`
        SELECT value, content_type FROM state WHERE key = ${req.key} AND version = ${req.version}
        UNION ALL
        SELECT value, content_type FROM state_history WHERE key = ${req.key} AND version = ${req.version}
        LIMIT 1`;
      if (!target) throw new Fault('NOT_FOUND', `version ${req.version} not found for key: ${req.key}`);
      const res = await write(tx, req.key, target.value, target.content_type, `rollback:v${req.version}`);
      return { ...res, rolled_back: req.version, value: target.value };
    },
  };
}
