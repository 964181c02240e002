import { createHash } from 'node:crypto';
import type { Table } from '../table.js';

/**
 * Tokens an admin created: a role, the scopes it reaches, an optional expiry. Only the
 * SHA-256 of the token is kept (hex): the token itself is 256 random bits, shown once in the reply
 * that created it, so a hash without salt or stretching is as good as the token is unguessable.
 * Revoking deletes the row.
 */
export const API_TOKENS: Table = {
  name: 'api_tokens',
  columns: {
    id: { type: 'text', primaryKey: true },
    name: { type: 'text' },
    /** `admin`, `agent` or `reader`. */
    role: { type: 'text' },
    /** JSON text: `["project:web", "state:web/*", "topic:web.*"]`; `[]` = what its role reaches. */
    scopes: { type: 'text', default: "'[]'" },
    token_hash: { type: 'text' },
    created_at: { type: 'text' },
    /** Storage text; null = never. */
    expires_at: { type: 'text', nullable: true },
  },
  seq: 'plain',
  indexes: [{ name: 'api_tokens_hash', on: 'token_hash' }],
};

/**
 * What the database keeps of a token (instance tokens and created ones): its SHA-256,
 * hex. Tokens are random (≥ 122 bits), so a plain hash cannot be reversed by guessing.
 */
export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');
