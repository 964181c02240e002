import { STATE_CHANGES_CHANNEL } from '../../../schemas/rpc/cluster.js';
import { dialects, sql, type Tx } from '../sql.js';

/** What a change log row says besides its revision and topic (issue 31). */
export type ChangeType = 'put' | 'delete' | 'expire';

/**
 * The revision taken, the change logged and every node woken, in one statement: SQLite's
 * AUTOINCREMENT; on PostgreSQL the `state_changes` counter row, taken under the write lock, so
 * revisions are gapless and commit in order (as event ids: schemas/db/tables/events.ts).
 */
const LOG = dialects({
  sqlite: 'INSERT INTO state_changes (topic, type, version, hash, content_type, updated_by) VALUES (?, ?, ?, ?, ?, ?)',
  pg: `WITH counter AS (UPDATE koor_counters SET value = value + 1 WHERE name = 'state_changes' RETURNING value AS id),
       stored AS (INSERT INTO state_changes (id, topic, type, version, hash, content_type, updated_by) SELECT id, ?, ?, ?, ?, ?, ? FROM counter RETURNING id)
       SELECT id, pg_notify('${STATE_CHANGES_CHANNEL}', id::text)::text AS woken FROM stored`,
});
const CUTOFF = sql('SELECT id FROM state_changes ORDER BY id DESC LIMIT 1 OFFSET ?');
const PRUNE = sql('DELETE FROM state_changes WHERE id IN (SELECT id FROM state_changes WHERE id <= ? ORDER BY id LIMIT ?)');

/** Appends one change; its revision. */
export function logChange(tx: Tx, topic: string, type: ChangeType, version: number, hash: string, contentType: string, by: string): Promise<number> {
  return tx.insert(LOG, topic, type, version, hash, contentType, by);
}

/** Deletes up to `chunk` of the oldest changes beyond the newest `keep` (called repeatedly). */
export async function pruneChanges(tx: Tx, keep: number, chunk: number): Promise<{ deleted: number; more: boolean }> {
  const last = (await tx.get<{ id: number }>(CUTOFF, keep))?.id;
  if (last === undefined) return { deleted: 0, more: false };
  const deleted = await tx.run(PRUNE, last, chunk);
  return { deleted, more: deleted === chunk };
}
