import { then, type Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { only, sql } from '../../../schemas/db/sql.js';
import { MAX_KEY_BYTES } from '../../shared/limits.js';
import { NEWEST_REVISION, withCurrentValue } from '../../../schemas/db/tables/state.js';
import { findVersion, ringIds } from '../../shared/version-ring.js';
import { dataNow } from '../../../schemas/db/time.js';

export interface StateRow {
  value: Buffer;
  version: number;
  hash: string;
  content_type: string;
  /** The store-wide revision of its last write. */
  revision: number;
  /** Epoch ms it expires at, 0 = never: a row past it is absent to every read, swept or not. */
  expires_at: number;
  /** The agent instance an ephemeral key is bound to, '' = none (absent from a version read). */
  owner?: string;
}

/** One change of the change log, as stored. */
export interface ChangeRow {
  id: number;
  topic: string;
  type: string;
  version: number;
  hash: string;
  content_type: string;
  updated_by: string;
}

export interface StateMetaRow {
  key: string;
  version: number;
  hash: string;
  content_type: string;
  updated_at: string;
  updated_by: string;
}

/** Read-only queries of the state store; SQLite answers at once, PostgreSQL with a promise. */
export interface StateReader {
  /**
   * Up to `limit` keys after `after` ('' = from the start), by key, as the JSON array text of
   * `GET /api/state`; `next` is the page's last key when more keys follow it, else null.
   */
  listPage(after: string, limit: number, prefix?: string): Awaitable<{ json: string; next: string | null }>;
  /** The newest revision handed out (0 before the first change). */
  newestRevision(): Awaitable<number>;
  /** The oldest retained change's revision (null when none is) and the newest committed. */
  logBounds(): Awaitable<{ oldest: number | null; newest: number }>;
  /** Changes with revisions in (after, upto], by revision, at most `limit`. */
  changes(after: number, upto: number, limit: number): Awaitable<ChangeRow[]>;
  current(key: string): Awaitable<StateRow | undefined>;
  atVersion(key: string, v: number): Awaitable<StateRow | undefined>;
  history(key: string, limit: number): Awaitable<StateMetaRow[]>;
  count(): Awaitable<number>;
  /** Whether some key's TTL has run out by `now` (the state_expiring index). */
  due(now: number): Awaitable<boolean>;
}

/**
 * The current row, its value from the version log (each value is stored once, there);
 * also the read floor's statement over koor's own file (bench/baselines/uws.ts `rows`).
 */
export const CURRENT = withCurrentValue('SELECT h.value, s.version, s.hash, s.content_type, s.revision, s.expires_at, s.owner', 'WHERE s.key = ?');
/** CURRENT's row from its columns, in the SELECT's order (SQLite reads it as an array: Reads.statement). */
const currentRow = (c: unknown[]): StateRow => ({
  value: c[0] as Buffer,
  version: c[1] as number,
  hash: c[2] as string,
  content_type: c[3] as string,
  revision: c[4] as number,
  expires_at: c[5] as number,
  owner: c[6] as string,
});
const NEWEST_REV = NEWEST_REVISION;
const DUE = sql('SELECT 1 AS found FROM state WHERE expires_at > 0 AND expires_at <= ? LIMIT 1');
/**
 * The change log's bounds: the oldest revision kept and the newest (retention never deletes the
 * newest change, so its max is the newest committed: revisions commit in order). One indexed
 * query of the log itself, on both backends (not PostgreSQL's counter row as well).
 */
const LOG_BOUNDS = sql('SELECT min(id) AS oldest, coalesce(max(id), 0) AS newest FROM state_changes');
const CHANGES = sql('SELECT id, topic, type, version, hash, content_type, updated_by FROM state_changes WHERE id > ? AND id <= ? ORDER BY id LIMIT CAST(? AS bigint)');
/** A kept version; revision and expiry are the current row's when it is the current version, else 0. */
const AT_VERSION = sql(
  `SELECT h.value, h.version, h.hash, h.content_type, coalesce(s.revision, 0) AS revision, coalesce(s.expires_at, 0) AS expires_at
     FROM state_history h LEFT JOIN state s ON s.key = h.key AND s.version = h.version WHERE h.key = ? AND h.version = ?`,
);
const HISTORY = sql('SELECT key, version, hash, content_type, updated_at, updated_by FROM state_history WHERE key = ? ORDER BY version DESC LIMIT CAST(? AS bigint)');
/**
 * SQLite: a key's current version and its version ring (a file keeping rings has no
 * (key, version) index; a NULL ring is a file keeping the index, read by AT_VERSION and HISTORY).
 */
const RING = only('sqlite', 'SELECT version, hid, ring FROM state WHERE key = ?');
/** SQLite: AT_VERSION by the row's id (from the ring), the key checked (an id a deleted key freed may be another key's now). */
const AT_ID = only(
  'sqlite',
  `SELECT h.value, h.version, h.hash, h.content_type, coalesce(s.revision, 0) AS revision, coalesce(s.expires_at, 0) AS expires_at
     FROM state_history h LEFT JOIN state s ON s.key = h.key AND s.version = h.version WHERE h.id = ? AND h.key = ?`,
);
const META_AT_ID = only('sqlite', 'SELECT key, version, hash, content_type, updated_at, updated_by FROM state_history WHERE id = ? AND key = ?');
const COUNT = sql('SELECT count(*) AS n FROM state');
/** `key > after`, within the prefix's range [lo, hi), not expired at `now` (epoch ms; `+`: not matched to state_expiring, see LEASE_LIVE). */
const IN_PAGE = 'key > ? AND key >= ? AND key < ? AND (+expires_at = 0 OR +expires_at > ?)';
/**
 * A page of keys, keyset-paged on the primary key (each page one index range, whatever the page
 * number). SQLite builds the page's JSON in C (no JS object per row): ~1 µs per key, so the
 * largest page (STATE_LIST_MAX_LIMIT) stays a few ms of event-loop time (npm run bench --
 * bounded). PostgreSQL returns the rows (one more, to know whether a page follows) and the JSON
 * is built here, as SQLite spells it.
 */
const PAGE_JSON = only(
  'sqlite',
  `SELECT json_group_array(json_object('key', key, 'version', version, 'content_type', content_type,
          'updated_at', replace(updated_at, ' ', 'T') || 'Z') ORDER BY key) AS json, max(key) AS last
     FROM (SELECT key, version, content_type, updated_at FROM state WHERE ${IN_PAGE} ORDER BY key LIMIT CAST(? AS bigint))`,
);
const HAS_AFTER = only('sqlite', `SELECT 1 AS found FROM state WHERE ${IN_PAGE} LIMIT 1`);
const PAGE_ROWS = only('pg', `SELECT key, version, content_type, updated_at FROM state WHERE ${IN_PAGE} ORDER BY key LIMIT CAST(? AS bigint)`);

/** Above every key (at most MAX_KEY_BYTES, 4 bytes per U+10FFFF): the upper end of the listing without a prefix. */
const TOP = '\u{10FFFF}'.repeat(Math.ceil(MAX_KEY_BYTES / 4) + 1);

/**
 * The first string after every string that starts with `prefix`, in code point order (which is
 * the byte order of UTF-8, the keys' order on both backends): its last code point plus one.
 */
function prefixEnd(prefix: string): string {
  if (prefix === '') return TOP;
  const cps = Array.from(prefix);
  while (cps.length > 0) {
    let cp = cps.pop()!.codePointAt(0)! + 1;
    if (cp === 0xd800) cp = 0xe000; // no lone surrogates
    if (cp <= 0x10ffff) return cps.join('') + String.fromCodePoint(cp);
  }
  return TOP;
}

type Page = { json: string; next: string | null };

const pages = {
  sqlite(db: Reads): (after: string, limit: number, prefix: string) => Awaitable<Page> {
    const page = db.statement<{ json: string | null; last: string | null }>(PAGE_JSON);
    const hasAfter = db.statement<{ found: number }>(HAS_AFTER);
    return (after, limit, prefix) => {
      const hi = prefixEnd(prefix);
      const now = dataNow();
      const r = page.get(after, prefix, hi, now, limit) as { json: string | null; last: string | null };
      const last = r.last;
      return { json: r.json ?? '[]', next: last !== null && hasAfter.get(last, prefix, hi, now) !== undefined ? last : null };
    };
  },
  pg(db: Reads): (after: string, limit: number, prefix: string) => Awaitable<Page> {
    const rows = db.statement<{ key: string; version: number; content_type: string; updated_at: string }>(PAGE_ROWS);
    return (after, limit, prefix) =>
      then(rows.all(after, prefix, prefixEnd(prefix), dataNow(), limit + 1), (list) => {
        const page = list.slice(0, limit);
        const json = `[${page.map((r) => JSON.stringify({ key: r.key, version: r.version, content_type: r.content_type, updated_at: `${r.updated_at.replace(' ', 'T')}Z` })).join(',')}]`;
        return { json, next: list.length > limit ? page.at(-1)!.key : null };
      });
  },
};

/** The state store's reads, on either backend. */
export function stateReader(db: Reads): StateReader {
  const current = db.statement<StateRow>(CURRENT, currentRow);
  const atVersion = db.statement<StateRow>(AT_VERSION);
  const history = db.statement<StateMetaRow>(HISTORY);
  const count = db.statement<{ n: number }>(COUNT);
  const newest = db.statement<{ id: number }>(NEWEST_REV);
  const bounds = db.statement<{ oldest: number | null; newest: number }>(LOG_BOUNDS);
  const changes = db.statement<ChangeRow>(CHANGES);
  const due = db.statement<{ found: number }>(DUE);
  const page = pages[db.dialect](db);
  let versions = { atVersion: (key: string, v: number) => atVersion.get(key, v), history: (key: string, limit: number) => history.all(key, limit) };
  if (db.dialect === 'sqlite') versions = byRing(db, versions);
  return {
    listPage: (after, limit, prefix = '') => page(after, limit, prefix),
    newestRevision: () => then(newest.get(), (r) => r?.id ?? 0),
    logBounds: () => then(bounds.get(), (r) => ({ oldest: r?.oldest ?? null, newest: Number(r?.newest ?? 0) })),
    changes: (after, upto, limit) => changes.all(after, upto, limit),
    current: (key) => current.get(key),
    atVersion: versions.atVersion,
    history: versions.history,
    count: () => then(count.get(), (r) => r?.n ?? 0),
    due: (now) => then(due.get(now), (r) => r !== undefined),
  };
}

/** SQLite: a key's current version, its row's id and its ring. */
type Ring = { version: number; hid: number; ring: Uint8Array | null };

/**
 * SQLite's version reads through each key's ring (STATE.ring), and through `indexed` (the (key,
 * version) index) where the file keeps that instead. A key without a current row has no versions
 * (a delete takes its history with it).
 */
function byRing(db: Reads, indexed: Pick<StateReader, 'atVersion' | 'history'>): Pick<StateReader, 'atVersion' | 'history'> {
  // SQLite answers at once: its statements' results are values, not promises.
  const ringOf = db.statement<Ring>(RING);
  const atId = db.statement<StateRow>(AT_ID);
  const metaAtId = db.statement<StateMetaRow>(META_AT_ID);
  return {
    atVersion(key, v) {
      const r = ringOf.get(key) as Ring | undefined;
      if (r === undefined) return undefined;
      if (r.ring === null) return indexed.atVersion(key, v);
      // The current version (a watcher's value, most often) without decoding the ring.
      return findVersion(r.ring, r.version, r.hid, v, (id) => atId.get(id, key) as StateRow | undefined);
    },
    history(key, limit) {
      const r = ringOf.get(key) as Ring | undefined;
      if (r === undefined) return [];
      if (r.ring === null) return indexed.history(key, limit);
      const ids = ringIds(r.ring);
      const out: StateMetaRow[] = [];
      // Newest first; a row a write dropped since the ring was read is skipped.
      for (let i = ids.length - 1; i >= 0 && out.length < limit; i--) {
        const row = metaAtId.get(ids[i]!, key) as StateMetaRow | undefined;
        if (row !== undefined) out.push(row);
      }
      return out;
    },
  };
}
