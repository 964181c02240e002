import type { Table } from '../table.js';

/**
 * Replies of writes sent with an `Idempotency-Key` header: a retry with the same key by
 * the same caller within the retention (24 h) gets the stored reply and stores nothing new. Written
 * in the write's own transaction (workers/writer/idempotency.ts), so a committed write always has
 * its key and a rolled-back one never does.
 */
export const IDEMPOTENCY_KEYS: Table = {
  name: 'idempotency_keys',
  columns: {
    /** Who sent it: an instance id, or `human` for the operator. */
    caller: { type: 'text' },
    key: { type: 'text' },
    /** The writer method and a hash of its request: the same key for another request is refused. */
    method: { type: 'text' },
    request_hash: { type: 'text' },
    /** The method's result, JSON text. */
    reply: { type: 'text' },
    created_at: { type: 'text' },
  },
  primaryKey: ['caller', 'key'],
  withoutRowid: true,
  // retention: the oldest first
  indexes: [{ name: 'idempotency_keys_created_at', on: 'created_at' }],
};
