import { dialects, only, sql, type Query } from '../sql.js';
import type { Table } from '../table.js';

/**
 * The state store: each key's current version, metadata only. Its value is
 * the row (key, version) of `state_history`, where every value is written once, when it is put;
 * on SQLite `hid` points at that row. Small rows, so stored in the primary key's b-tree (one
 * descent per lookup).
 */
export const STATE: Table = {
  name: 'state',
  columns: {
    key: { type: 'text', primaryKey: true },
    version: { type: 'int' },
    hash: { type: 'text' },
    content_type: { type: 'text' },
    updated_at: { type: 'text' },
    updated_by: { type: 'text', default: "''" },
    /** The store-wide revision of the key's last write: the `revision` of its newest change. */
    revision: { type: 'int', default: 0 },
    /** Epoch ms at which the key expires (X-Koor-TTL), 0 = never. */
    expires_at: { type: 'int', default: 0 },
    /** The agent instance an ephemeral key is bound to (X-Koor-Ephemeral), '' = none. */
    owner: { type: 'text', default: "''" },
    /** The largest fencing token (X-Koor-Fence) a write of the key carried: an older one is refused. */
    fence: { type: 'int', default: 0 },
    /**
     * SQLite: the `id` of the current version's row in `state_history`, so a read past the cache
     * descends two b-trees, not three (the version log's (key, version) index skipped: 8.7 → 7.3 µs
     * per read at 100,000 keys). Written with the row, in the same statement.
     */
    hid: { type: 'int', default: 0, onlyIn: 'sqlite' },
    /**
     * SQLite: the `id`s of the key's kept versions in `state_history`, oldest first, as a version
     * ring (src/shared/version-ring.ts), so a write finds the version that falls out of the newest
     * `--state-history-keep` without the version log's (key, version) index, whose leaf per key
     * was 44 % of a PUT's WAL frames. NULL while the file keeps that index instead
     * (`--state-history-keep 0` or above VERSION_RING_MAX; see STATE_HISTORY_VERSION).
     */
    ring: { type: 'blob', nullable: true, onlyIn: 'sqlite' },
  },
  indexes: [
    { name: 'state_expiring', on: 'expires_at', where: 'expires_at > 0' },
    { name: 'state_owned', on: 'owner', where: "owner <> ''" },
  ],
  withoutRowid: true,
};

/**
 * SQLite's (key, version) index of the version log: there while versions are found through it
 * (every file its migrations make; one keeping every version, or more than VERSION_RING_MAX),
 * dropped while each key's state row keeps its versions' ids (STATE.ring).
 */
export const STATE_HISTORY_VERSION = 'state_history_version';

/**
 * Every kept version of every key, the current one included (a version log; a value is
 * written once, never copied when the next version comes). The newest `state_history_keep`
 * versions of a key stay; a write drops the one that falls out. A rowid table: 1 KB rows appended
 * at its end and deleted, roughly first in first out, from its start (clustered on (key, version),
 * every insert would split a random page).
 */
export const STATE_HISTORY: Table = {
  name: 'state_history',
  columns: {
    /** SQLite: the row's id, which `state.hid` points at (kept through VACUUM, unlike a plain rowid). */
    id: { type: 'int', id: 'rowid', onlyIn: 'sqlite' },
    key: { type: 'text' },
    version: { type: 'int' },
    value: { type: 'blob' },
    hash: { type: 'text' },
    content_type: { type: 'text' },
    updated_at: { type: 'text' },
    updated_by: { type: 'text', default: "''" },
  },
  primaryKey: ['key', 'version'],
  // SQLite: a unique index instead, which a data file keeping rings drops (STATE.ring).
  primaryKeyIn: 'pg',
  indexes: [{ name: STATE_HISTORY_VERSION, on: 'key, version', unique: true, onlyIn: 'sqlite' }],
};

/** SQLite: a row when the file keeps STATE_HISTORY_VERSION (none: it keeps rings). */
export const VERSION_INDEXED = only('sqlite', `SELECT 1 AS found FROM sqlite_master WHERE type = 'index' AND name = '${STATE_HISTORY_VERSION}'`);

/**
 * The change log of the state store and the spec registry: one row per put, delete,
 * rollback and expiry, with its store-wide `revision` (gapless, visible in revision order, as
 * event ids are; the column `id`, as the backup's copy of counters expects). Metadata only: a watcher asking for values reads them from `state` and
 * `state_history` (no second copy of any value). `topic` is `s:<key>` for state, `p:<project>/<name>`
 * for specs, so one prefix range serves a watch. Retention: the newest STATE_CHANGES_KEEP.
 */
export const STATE_CHANGES: Table = {
  name: 'state_changes',
  columns: {
    /** The revision. Retention keeps the newest STATE_CHANGES_KEEP (at least one): so no AUTOINCREMENT on SQLite. */
    id: { type: 'int', id: 'counter', newestKept: true },
    topic: { type: 'text' },
    type: { type: 'text' },
    version: { type: 'int' },
    hash: { type: 'text', default: "''" },
    content_type: { type: 'text', default: "''" },
    updated_by: { type: 'text', default: "''" },
  },
};

/**
 * SQLite: each key's `hid` set from the version log, for rows written without it (the v21 upgrade,
 * a copy of PostgreSQL's rows into a backup file). 0 where the log has no such version.
 */
export const STATE_HID_FROM_LOG =
  'UPDATE state SET hid = coalesce((SELECT h.id FROM state_history h WHERE h.key = state.key AND h.version = state.version), 0)';

/**
 * `select` from `state s` joined to its current value's row of the version log as `h`, then
 * `rest`: on SQLite through `s.hid` (a rowid lookup), on PostgreSQL by (key, version).
 */
export const withCurrentValue = (select: string, rest: string): Query =>
  dialects({
    sqlite: `${select} FROM state s JOIN state_history h ON h.id = s.hid ${rest}`,
    pg: `${select} FROM state s JOIN state_history h ON h.key = s.key AND h.version = s.version ${rest}`,
  });

/**
 * A restore's mark in the change log: a backup restored over a server that had handed out more
 * revisions than the backup holds goes on after them (watchers resumed from them, and must not
 * skip new changes as seen). The mark takes the replaced server's newest revision as its `id`,
 * and the restored log's newest as its `version`: the revisions between belong to no change, and
 * a watcher's catch-up passes over them without taking them for pruned ones. Its topic matches
 * no watch.
 */
export const RESTORE_MARK_TYPE = 'restore';
export const RESTORE_MARK = sql(`INSERT INTO state_changes (id, topic, type, version) VALUES (?, '', '${RESTORE_MARK_TYPE}', ?)`);

/** The newest revision ever handed out (no row before the first): the newest row is never pruned. */
export const NEWEST_REVISION = dialects({
  sqlite: 'SELECT max(id) AS id FROM state_changes',
  pg: "SELECT value AS id FROM koor_counters WHERE name = 'state_changes'",
});
