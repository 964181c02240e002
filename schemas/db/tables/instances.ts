import type { Table } from '../table.js';

/** Agent instances: lifecycle pending → active ⇄ stale. */
export const INSTANCES: Table = {
  name: 'instances',
  columns: {
    id: { type: 'text', primaryKey: true },
    name: { type: 'text' },
    workspace: { type: 'text', default: "''" },
    intent: { type: 'text', default: "''" },
    stack: { type: 'text', default: "''" },
    capabilities: { type: 'text', default: "'[]'" },
    status: { type: 'text', default: "'pending'" },
    /** SHA-256 of the instance's token, hex: the token is shown once, at registration. */
    token_hash: { type: 'text' },
    registered_at: { type: 'text' },
    last_seen: { type: 'text' },
    /**
     * The created token that registered it ('' for the operator's and open mode's): that token may
     * act as it with X-Koor-Instance. `instance:<id>` when an agent's instance token
     * bound a coding-agent session to it (only that token drives the session's hooks).
     */
    token_id: { type: 'text', default: "''", afterSeq: true },
  },
  seq: 'plain',
  indexes: [
    { name: 'instances_status', on: 'status, last_seen', pgOn: 'status, last_seen, seq' },
    { name: 'instances_token_hash', on: 'token_hash' },
  ],
};
