import type { ReadDb } from '../../store.js';

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

/** Read-only queries of the state store (front process, read connection). */
export function stateReader(db: ReadDb) {
  // Keyset paging on the primary key: each page is one index range, whatever the page number.
  const list = db.prepare<[string, number], Omit<StateMetaRow, 'hash' | 'updated_by'>>(
    'SELECT key, version, content_type, updated_at FROM state WHERE key > ? ORDER BY key LIMIT ?',
  );
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
    /** Up to `limit` keys after `after` ('' = from the start), by key. */
    list: (after: string, limit: number) => list.all(after, limit),
    current: (key: string) => current.get(key),
    atVersion: (key: string, v: number) => atVersion.get(key, v, key, v),
    history: (key: string, limit: number) => history.all(key, key, limit),
    count: () => count.get() ?? 0,
  };
}
export type StateReader = ReturnType<typeof stateReader>;
