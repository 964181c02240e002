import { STATE_CHANGES_CHANNEL } from '../../../schemas/rpc/cluster.js';
import { NEWEST_REVISION } from '../../../schemas/db/tables/state.js';
import { dialects, sql, type SyncTx, type Tx } from '../sql.js';

/** What a change log row says besides its revision and topic. */
export type ChangeType = 'put' | 'delete' | 'expire';

/**
 * The revision taken, the change logged and every node woken, in one statement: SQLite's rowid
 * (the largest + 1: pruning never deletes the newest change, so none is handed out twice, and no
 * AUTOINCREMENT sequence row is rewritten in every commit); on PostgreSQL the
 * `state_changes` counter row, taken under the write lock, so revisions are gapless and commit in
 * order (as event ids: schemas/db/tables/events.ts).
 */
const LOG = dialects({
  sqlite: 'INSERT INTO state_changes (topic, type, version, hash, content_type, updated_by) VALUES (?, ?, ?, ?, ?, ?)',
  pg: `WITH counter AS (UPDATE koor_counters SET value = value + 1 WHERE name = 'state_changes' RETURNING value AS id),
       stored AS (INSERT INTO state_changes (id, topic, type, version, hash, content_type, updated_by) SELECT id, ?, ?, ?, ?, ?, ? FROM counter RETURNING id)
       SELECT id, pg_notify('${STATE_CHANGES_CHANNEL}', id::text)::text AS woken FROM stored`,
});
const CUTOFF = sql('SELECT id FROM state_changes ORDER BY id DESC LIMIT 1 OFFSET CAST(? AS bigint)');
const PRUNE = sql('DELETE FROM state_changes WHERE id IN (SELECT id FROM state_changes WHERE id <= ? ORDER BY id LIMIT CAST(? AS bigint))');

/** The newest revision the transaction now running took (0: none yet). */
let takenInTx = 0;
/** The newest revision committed, as far as this writer knows (SQLite: it is the only one). */
let committed = 0;

/** Appends one change; its revision. */
export async function logChange(tx: Tx, topic: string, type: ChangeType, version: number, hash: string, contentType: string, by: string): Promise<number> {
  return taken(await tx.insert(LOG, topic, type, version, hash, contentType, by));
}

/** logChange on SQLite, answered at once (a PUT's hot path: workers/writer/sql.ts SyncTx). */
export function logChangeSync(tx: SyncTx, topic: string, type: ChangeType, version: number, hash: string, contentType: string, by: string): number {
  return taken(tx.insert(LOG, topic, type, version, hash, contentType, by));
}

function taken(id: number): number {
  if (id > takenInTx) takenInTx = id;
  return id;
}

/**
 * The end of a batch transaction: a committed one's revisions are the newest committed; a rolled
 * back one's were never taken (SQLite hands them out again).
 */
export function endChanges(didCommit: boolean): void {
  if (didCommit && takenInTx > committed) committed = takenInTx;
  takenInTx = 0;
}

/** Where the running transaction's revisions stand: taken before a savepoint, given back after its rollback. */
export const changesMark = (): number => takenInTx;
export function rollBackChanges(mark: number): void {
  takenInTx = mark;
}

/** The newest revision committed, as far as this writer knows (see readCommittedRevision). */
export function committedRevision(): number {
  return committed;
}

/**
 * Reads the newest revision committed from the database (the writer's start). From then on
 * logChange and endChanges keep it: every SQLite change goes through logChange. PostgreSQL's
 * writes take their revisions in SQL, and other nodes commit too: not kept there.
 */
export async function readCommittedRevision(tx: Tx): Promise<number> {
  committed = Math.max(committed, (await tx.get<{ id: number }>(NEWEST_REVISION))?.id ?? 0);
  return committed;
}

/**
 * Deletes up to `chunk` of the oldest changes beyond the newest `keep` (called repeatedly). `keep`
 * is at least 1 (the method's schema), so the newest stays: its revision is where SQLite's next
 * one continues.
 */
export async function pruneChanges(tx: Tx, keep: number, chunk: number): Promise<{ deleted: number; more: boolean }> {
  const last = (await tx.get<{ id: number }>(CUTOFF, keep))?.id;
  if (last === undefined) return { deleted: 0, more: false };
  const deleted = await tx.run(PRUNE, last, chunk);
  return { deleted, more: deleted === chunk };
}
