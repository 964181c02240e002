import type { Sql } from 'postgres';
import type { Awaitable, ReadDb } from '../../store.js';

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

/** The state store on the front process's SQLite read connection. */
export function sqliteStateReader(db: ReadDb): StateReader {
  // Keyset paging on the primary key: each page is one index range, whatever the page number.
  // SQLite builds the page's JSON in C (no JS object per row): ~1 µs per key, so the largest page
  // (STATE_LIST_MAX_LIMIT) stays a few ms of event-loop time (npm run bench -- bounded).
  const listPage = db.prepare<[string, number], { json: string | null; last: string | null }>(
    `SELECT json_group_array(json_object('key', key, 'version', version, 'content_type', content_type,
              'updated_at', replace(updated_at, ' ', 'T') || 'Z') ORDER BY key) AS json, max(key) AS last
       FROM (SELECT key, version, content_type, updated_at FROM state WHERE key > ? ORDER BY key LIMIT ?)`,
  );
  const hasAfter = db.prepare<[string], number>('SELECT 1 FROM state WHERE key > ? LIMIT 1').pluck();
  const current = db.prepare<[string], StateRow>('SELECT value, version, hash, content_type FROM state WHERE key = ?');
  const atVersion = db.prepare<[string, number, string, number], StateRow>(
    `SELECT value, version, hash, content_type FROM state WHERE key = ? AND version = ?
     UNION ALL
     SELECT value, version, hash, content_type FROM state_history WHERE key = ? AND version = ?
     LIMIT 1`,
  );
  const history = db.prepare<[string, string, number], StateMetaRow>(
    `SELECT key, version, hash, content_type, updated_at, updated_by FROM state WHERE key = ?
     UNION ALL
     SELECT key, version, hash, content_type, updated_at, updated_by FROM state_history WHERE key = ?
     ORDER BY version DESC LIMIT ?`,
  );
  const count = db.prepare<[], number>('SELECT count(*) FROM state').pluck();

  return {
    listPage: (after, limit) => {
      const r = listPage.get(after, limit)!;
      const last = r.last;
      return { json: r.json ?? '[]', next: last !== null && hasAfter.get(last) !== undefined ? last : null };
    },
    current: (key) => current.get(key),
    atVersion: (key, v) => atVersion.get(key, v, key, v),
    history: (key, limit) => history.all(key, key, limit),
    count: () => count.get() ?? 0,
  };
}

/** The same queries on PostgreSQL (cluster mode); the page's JSON is built here, as SQLite spells it. */
export function pgStateReader(sql: Sql): StateReader {
  return {
    async listPage(after, limit) {
      const rows = await sql<{ key: string; version: number; content_type: string; updated_at: string }[]>`
        SELECT key, version, content_type, updated_at FROM state WHERE key > ${after} ORDER BY key LIMIT ${limit + 1}`;
      const page = rows.slice(0, limit);
      const json = `[${page.map((r) => JSON.stringify({ key: r.key, version: r.version, content_type: r.content_type, updated_at: `${r.updated_at.replace(' ', 'T')}Z` })).join(',')}]`;
      return { json, next: rows.length > limit ? page.at(-1)!.key : null };
    },
    async current(key) {
      return (await sql<StateRow[]>`SELECT value, version, hash, content_type FROM state WHERE key = ${key}`)[0];
    },
    async atVersion(key, v) {
      const rows = await sql<StateRow[]>`
        SELECT value, version, hash, content_type FROM state WHERE key = ${key} AND version = ${v}
        UNION ALL
        SELECT value, version, hash, content_type FROM state_history WHERE key = ${key} AND version = ${v}
        LIMIT 1`;
      return rows[0];
    },
    async history(key, limit) {
      return [
        ...(await sql<StateMetaRow[]>`
          SELECT key, version, hash, content_type, updated_at, updated_by FROM state WHERE key = ${key}
          UNION ALL
          SELECT key, version, hash, content_type, updated_at, updated_by FROM state_history WHERE key = ${key}
          ORDER BY version DESC LIMIT ${limit}`),
      ];
    },
    async count() {
      return (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM state`)[0]!.n;
    },
  };
}
