import { then, type Awaitable } from '../../backend/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { only, sql } from '../../../schemas/db/sql.js';

export interface StateRow {
  value: Buffer;
  version: number;
  hash: string;
  content_type: string;
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
   * SPEC §2.2; `next` is the page's last key when more keys follow it, else null.
   */
  listPage(after: string, limit: number): Awaitable<{ json: string; next: string | null }>;
  current(key: string): Awaitable<StateRow | undefined>;
  atVersion(key: string, v: number): Awaitable<StateRow | undefined>;
  history(key: string, limit: number): Awaitable<StateMetaRow[]>;
  count(): Awaitable<number>;
}

const CURRENT = sql('SELECT value, version, hash, content_type FROM state WHERE key = ?');
const AT_VERSION = sql(
  `SELECT value, version, hash, content_type FROM state WHERE key = ? AND version = ?
   UNION ALL
   SELECT value, version, hash, content_type FROM state_history WHERE key = ? AND version = ?
   LIMIT 1`,
);
const HISTORY = sql(
  `SELECT key, version, hash, content_type, updated_at, updated_by FROM state WHERE key = ?
   UNION ALL
   SELECT key, version, hash, content_type, updated_at, updated_by FROM state_history WHERE key = ?
   ORDER BY version DESC LIMIT ?`,
);
const COUNT = sql('SELECT count(*) AS n FROM state');
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
     FROM (SELECT key, version, content_type, updated_at FROM state WHERE key > ? ORDER BY key LIMIT ?)`,
);
const HAS_AFTER = only('sqlite', 'SELECT 1 AS found FROM state WHERE key > ? LIMIT 1');
const PAGE_ROWS = only('pg', 'SELECT key, version, content_type, updated_at FROM state WHERE key > ? ORDER BY key LIMIT ?');

type Page = { json: string; next: string | null };

const pages = {
  sqlite(db: Reads): (after: string, limit: number) => Awaitable<Page> {
    const page = db.statement<{ json: string | null; last: string | null }>(PAGE_JSON);
    const hasAfter = db.statement<{ found: number }>(HAS_AFTER);
    return (after, limit) => {
      const r = page.get(after, limit) as { json: string | null; last: string | null };
      const last = r.last;
      return { json: r.json ?? '[]', next: last !== null && hasAfter.get(last) !== undefined ? last : null };
    };
  },
  pg(db: Reads): (after: string, limit: number) => Awaitable<Page> {
    const rows = db.statement<{ key: string; version: number; content_type: string; updated_at: string }>(PAGE_ROWS);
    return (after, limit) =>
      then(rows.all(after, limit + 1), (list) => {
        const page = list.slice(0, limit);
        const json = `[${page.map((r) => JSON.stringify({ key: r.key, version: r.version, content_type: r.content_type, updated_at: `${r.updated_at.replace(' ', 'T')}Z` })).join(',')}]`;
        return { json, next: list.length > limit ? page.at(-1)!.key : null };
      });
  },
};

/** The state store's reads, on either backend. */
export function stateReader(db: Reads): StateReader {
  const current = db.statement<StateRow>(CURRENT);
  const atVersion = db.statement<StateRow>(AT_VERSION);
  const history = db.statement<StateMetaRow>(HISTORY);
  const count = db.statement<{ n: number }>(COUNT);
  return {
    listPage: pages[db.dialect](db),
    current: (key) => current.get(key),
    atVersion: (key, v) => atVersion.get(key, v, key, v),
    history: (key, limit) => history.all(key, key, limit),
    count: () => then(count.get(), (r) => r?.n ?? 0),
  };
}
