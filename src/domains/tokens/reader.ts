import type { Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { dialects, sql } from '../../../schemas/db/sql.js';

/** A created token as listed: never its hash. `scopes` JSON text, times storage text. */
export interface TokenListRow {
  id: string;
  name: string;
  role: string;
  scopes: string;
  created_at: string;
  expires_at: string | null;
}

/** What the front remembers to accept a token. */
export interface TokenAuthRow {
  id: string;
  role: string;
  scopes: string;
  token_hash: string;
  expires_at: string | null;
}

/** Read-only queries of the created tokens; SQLite answers at once, PostgreSQL with a promise. */
export interface TokenReader {
  /** Oldest first. */
  list(): Awaitable<TokenListRow[]>;
  /** Every token's hash and rights (loaded at start). */
  all(): Awaitable<TokenAuthRow[]>;
  /** The token with this hash, if any (a cluster node's miss or confirmation). */
  byHash(hash: string): Awaitable<TokenAuthRow | undefined>;
}

const LIST = dialects({
  sqlite: 'SELECT id, name, role, scopes, created_at, expires_at FROM api_tokens ORDER BY created_at, rowid',
  pg: 'SELECT id, name, role, scopes, created_at, expires_at FROM api_tokens ORDER BY created_at, seq',
});
const ALL = sql('SELECT id, role, scopes, token_hash, expires_at FROM api_tokens');
const BY_HASH = sql('SELECT id, role, scopes, token_hash, expires_at FROM api_tokens WHERE token_hash = ?');

export function tokenReader(db: Reads): TokenReader {
  const list = db.statement<TokenListRow>(LIST);
  const all = db.statement<TokenAuthRow>(ALL);
  const byHash = db.statement<TokenAuthRow>(BY_HASH);
  return {
    list: () => list.all(),
    all: () => all.all(),
    byHash: (hash) => byHash.get(hash),
  };
}
