import { CHANGES_CHANNEL } from '../../../schemas/rpc/cluster.js';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { fault } from '../fault.js';
import { sql, type Tx } from '../sql.js';
import { dataNow, storageNow, toStorage } from '../../../schemas/db/time.js';
import { TOKENS_MAX } from '../../../src/shared/limits-features.js';

type M = WriterMethods;

const INSERT = sql('INSERT INTO api_tokens (id, name, role, scopes, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
const DELETE = sql('DELETE FROM api_tokens WHERE id = ?');
const REKEY = sql('UPDATE api_tokens SET token_hash = ? WHERE id = ?');
const COUNT = sql('SELECT COUNT(*) AS n FROM api_tokens');

/** Tokens an admin created: only their hashes are stored; revoking deletes the row. */
export function tokenStore() {
  return {
    async create(tx: Tx, req: ReqOf<M, 'tokens.create'>): Promise<ResOf<M, 'tokens.create'>> {
      const n = Number((await tx.get<{ n: number | string }>(COUNT))!.n);
      if (n >= TOKENS_MAX) throw fault('TOO_MANY', 'tokens', n + 1, TOKENS_MAX);
      const ms = dataNow();
      const now = storageNow(ms);
      const expires = req.ttl_ms === null ? null : toStorage(ms + req.ttl_ms);
      await tx.run(INSERT, req.id, req.name, req.role, JSON.stringify(req.scopes), req.token_hash, now, expires);
      return { id: req.id, name: req.name, role: req.role, scopes: req.scopes, created_at: now, expires_at: expires };
    },

    async rekey(tx: Tx, req: ReqOf<M, 'tokens.rekey'>): Promise<ResOf<M, 'tokens.rekey'>> {
      if ((await tx.run(REKEY, req.token_hash, req.id)) === 0) throw fault('TOKEN_NOT_FOUND', req.id);
      await tx.notify(CHANGES_CHANNEL, `token:${req.id}`);
      return { id: req.id };
    },

    async revoke(tx: Tx, req: ReqOf<M, 'tokens.revoke'>): Promise<ResOf<M, 'tokens.revoke'>> {
      if ((await tx.run(DELETE, req.id)) === 0) throw fault('TOKEN_NOT_FOUND', req.id);
      // Every node drops the token from what it remembers once this commits (src/cluster/node.ts).
      await tx.notify(CHANGES_CHANNEL, `token:${req.id}`);
      return { id: req.id };
    },
  };
}
