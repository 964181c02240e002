import { createHash } from 'node:crypto';
import { Type } from '../../typebox.js';
import { f, hidden, nullable, omit, record, shown } from '../record.js';

/**
 * Tokens an admin created: a role, the scopes it reaches, an optional expiry. Only the
 * SHA-256 of the token is kept (hex): the token itself is 256 random bits, shown once in the reply
 * that created it, so a hash without salt or stretching is as good as the token is unguessable.
 * Revoking deletes the row. Its reply is every element of GET /api/tokens, and POST's with the token.
 */
export const TOKEN = record(
  'api_tokens',
  {
    id: f.text({ primaryKey: true }),
    name: f.text(),
    role: shown(f.text(), Type.Union([Type.Literal('admin'), Type.Literal('agent'), Type.Literal('reader')])),
    /** `["project:web", "state:web/*", "topic:web.*"]`; `[]` = what its role reaches. */
    scopes: f.list(Type.String()),
    /** In no reply, nor in the rows the writer returns and GET /api/tokens reads (TOKEN_LISTED). */
    token_hash: hidden(f.text()),
    created_at: f.time(),
    /** Null: never. */
    expires_at: nullable(f.time()),
  },
  { seq: 'plain', indexes: [{ name: 'api_tokens_hash', on: 'token_hash' }] },
);
export const API_TOKENS = TOKEN.table;
/** A token as the writer returns it and GET /api/tokens reads it: everything but its hash. */
export const TOKEN_LISTED = omit(TOKEN, 'token_hash');
/** An api_tokens row as the database returns it (scopes JSON text). */
export type TokenDbRow = Parameters<typeof TOKEN.decode>[0];

/**
 * What the database keeps of a token (instance tokens and created ones): its SHA-256,
 * hex. Tokens are random (≥ 122 bits), so a plain hash cannot be reversed by guessing.
 */
export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');
