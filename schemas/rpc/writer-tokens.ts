import { Type, type Static } from '../typebox.js';
import { TOKEN, TOKEN_LISTED } from '../db/tables/tokens.js';
import type { MethodTable } from './envelope.js';

/** The created tokens' writer methods, part of WriterMethods (schemas/rpc/writer.ts). */

/** A created token as stored, without its hash (schemas/db/tables/tokens.ts); `scopes` decoded, times storage text. */
export const ApiTokenRow = TOKEN_LISTED.Row;
export type ApiTokenRow = Static<typeof ApiTokenRow>;

export const TokenMethods = {
  /**
   * Stores a token the front made: only its SHA-256 (hex) reaches the writer, never the token.
   * `expires_at` storage text, null = never.
   */
  'tokens.create': {
    req: Type.Object({
      id: Type.String({ minLength: 1 }),
      name: Type.String({ minLength: 1 }),
      role: TOKEN.Wire.properties.role,
      scopes: Type.Array(Type.String()),
      token_hash: Type.String({ minLength: 64, maxLength: 64 }),
      /** Its lifetime (null: none): `expires_at` is its creation time plus this, both read off one clock. */
      ttl_ms: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    }),
    res: ApiTokenRow,
  },
  /**
   * A new hash for a created token: an idempotent retry of its creation gets a new
   * token, since the first one's plain text is never stored (the old hash stops working). Every
   * node forgets the old hash when this commits (a notification).
   */
  'tokens.rekey': {
    req: Type.Object({ id: Type.String({ minLength: 1 }), token_hash: Type.String({ minLength: 64, maxLength: 64 }) }),
    res: Type.Object({ id: Type.String() }),
  },
  /** Deletes the token; every cluster node stops accepting it when this commits (a notification). */
  'tokens.revoke': { req: Type.Object({ id: Type.String({ minLength: 1 }) }), res: Type.Object({ id: Type.String() }) },
} satisfies MethodTable;
