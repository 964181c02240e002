import type Database from 'better-sqlite3';
import { createIndex } from '../../../schemas/db/table.js';
import { STATE_HISTORY, STATE_HISTORY_VERSION, VERSION_INDEXED } from '../../../schemas/db/tables/state.js';
import { keepsRings, toRing } from '../../../src/shared/version-ring.js';
import { HISTORY_MODE_KEYS_PER_PAGE } from '../../../src/shared/limits-features.js';

type DB = Database.Database;

/**
 * Puts a data file in the way `keep` (--state-history-keep) finds versions, once at the writer's
 * start: rings (STATE.ring) when it keeps at most VERSION_RING_MAX versions a key, the
 * (key, version) index when it keeps every version or more. From the index to rings each key's
 * row gets the ids of all its versions (those past `keep` go as the retention pass or the key's
 * next write come to them: no pause at the start to delete them), rows of no key are deleted,
 * then the index goes; back, the index is built and the rings cleared. One transaction: a crash
 * leaves the file as it was.
 * Returns what it did, for the log.
 */
export function applyHistoryMode(db: DB, keep: number): { converted: 'rings' | 'index' | null; keys: number; dropped: number } {
  const indexed = db.prepare(VERSION_INDEXED.sqlite).get() !== undefined;
  const rings = keepsRings(keep);
  if (rings === !indexed) return { converted: null, keys: 0, dropped: 0 };
  if (!rings) {
    db.transaction(() => {
      db.exec(createIndex(STATE_HISTORY, STATE_HISTORY_VERSION, 'sqlite'));
      db.exec('UPDATE state SET ring = NULL');
    }).immediate();
    return { converted: 'index', keys: 0, dropped: 0 };
  }
  let keys = 0;
  let dropped = 0;
  db.transaction(() => {
    const page = db.prepare('SELECT key FROM state WHERE key > ? ORDER BY key LIMIT CAST(? AS bigint)').pluck();
    const ids = db.prepare('SELECT id FROM state_history WHERE key = ? ORDER BY version').pluck();
    const set = db.prepare('UPDATE state SET ring = ? WHERE key = ?');
    let after = '';
    for (;;) {
      const list = page.all(after, HISTORY_MODE_KEYS_PER_PAGE) as string[];
      for (const key of list) {
        set.run(toRing(ids.all(key) as number[]), key);
        keys++;
      }
      if (list.length < HISTORY_MODE_KEYS_PER_PAGE) break;
      after = list.at(-1)!;
    }
    dropped += db.prepare('DELETE FROM state_history WHERE key NOT IN (SELECT key FROM state)').run().changes;
    db.exec(`DROP INDEX ${STATE_HISTORY_VERSION}`);
  }).immediate();
  return { converted: 'rings', keys, dropped };
}
