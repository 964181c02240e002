import { tokenHash } from '../schemas/db/tables/tokens.js';
import { setBounded } from './shared/bounded.js';

/** Headers remembered at most (an unknown token each time only empties it sooner: still bounded). */
const MEMO_MAX = 4096;
/** Longer headers are no token of ours (`Bearer koor_…` is 55 characters, an instance token 43): hashed, never kept. */
const MEMO_HEADER_MAX = 128;
const memo = new Map<string, string>();

/**
 * The SHA-256 an instance or created token is looked up by, remembered per Authorization header:
 * hashing was ~30 % of a cached GET's CPU (it was per request). Only the hash is
 * remembered, not what it resolves to: a revocation still takes effect at once.
 */
export function headerTokenHash(authorization: string): string {
  if (authorization.length > MEMO_HEADER_MAX) return tokenHash(authorization.slice(7));
  let h = memo.get(authorization);
  if (h === undefined) {
    h = tokenHash(authorization.slice(7));
    setBounded(memo, authorization, h, MEMO_MAX);
  }
  return h;
}
