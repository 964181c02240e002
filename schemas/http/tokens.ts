import { Type, type Static } from '../typebox.js';
import { TOKEN } from '../db/tables/tokens.js';
import { Str } from './rules.js';

/** Created tokens' REST bodies and replies. */

/** POST /api/tokens. What is required (name, role) is the route's to say. */
export const TokenCreateBody = Type.Object({
  name: Str,
  /** `admin`, `agent` or `reader`. */
  role: Str,
  /** `project:<name>`, `state:<key glob>`, `topic:<event glob>`; absent or empty: what the role reaches. */
  scopes: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
  /** Seconds, or a duration like `90d`, `12h`, `30m`; absent or null: never expires. */
  ttl: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String(), Type.Null()])),
});

/** A created token as listed (schemas/db/tables/tokens.ts): never the token, never its hash. */
export const TokenView = TOKEN.Wire;
export type TokenView = Static<typeof TokenView>;
export const TokenListReply = Type.Array(TokenView);

/** POST /api/tokens: the token, in this reply only. */
export const TokenCreatedReply = Type.Object({ ...TokenView.properties, token: Type.String() });
export type TokenCreatedReply = Static<typeof TokenCreatedReply>;

/** DELETE /api/tokens/{id}. */
export const TokenRevokedReply = Type.Object({ revoked: Type.String() });
export type TokenRevokedReply = Static<typeof TokenRevokedReply>;
