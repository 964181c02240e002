import type { Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { dialects, sql } from '../../../schemas/db/sql.js';
import { TOKEN_LISTED, type TokenDbRow } from '../../../schemas/db/tables/tokens.js';

/** A created token as listed: never its hash. `scopes` JSON text, times storage text. */
export type TokenListRow = Parameters<typeof TOKEN_LISTED.decode>[0];

/** What the front remembers to accept a token. */
export type TokenAuthRow = Pick<TokenDbRow, 'id' | 'role' | 'scopes' | 'token_hash' | 'expires_at'>;

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
  sqlite: `SELECT ${TOKEN_LISTED.columns} FROM api_tokens ORDER BY created_at, rowid`,
  pg: `SELECT ${TOKEN_LISTED.columns} FROM api_tokens ORDER BY created_at, seq`,
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
