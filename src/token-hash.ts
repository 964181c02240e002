import { tokenHash } from '../schemas/db/tables/tokens.js';
import { setBounded } from './shared/bounded.js';
import { TOKEN_MEMO_HEADER_MAX, TOKEN_MEMO_MAX } from './shared/limits-features.js';

const memo = new Map<string, string>();

/**
 * The SHA-256 an instance or created token is looked up by, remembered per Authorization header:
 * hashing was ~30 % of a cached GET's CPU (it was per request). Only the hash is
 * remembered, not what it resolves to: a revocation still takes effect at once.
 */
export function headerTokenHash(authorization: string): string {
  if (authorization.length > TOKEN_MEMO_HEADER_MAX) return tokenHash(authorization.slice(7));
  let h = memo.get(authorization);
  if (h === undefined) {
    h = tokenHash(authorization.slice(7));
    setBounded(memo, authorization, h, TOKEN_MEMO_MAX);
  }
  return h;
}
