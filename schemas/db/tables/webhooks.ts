import type { Table } from '../table.js';

/** Webhooks: each reads the event log from a durable cursor (the last event it has had). */
export const WEBHOOKS: Table = {
  name: 'webhooks',
  columns: {
    id: { type: 'text', primaryKey: true },
    url: { type: 'text' },
    patterns: { type: 'text', default: `'["*"]'` },
    secret: { type: 'text', default: "''" },
    active: { type: 'int', default: 1 },
    created_at: { type: 'text' },
    last_fired: { type: 'text', nullable: true },
    fail_count: { type: 'int', default: 0 },
    last_error: { type: 'text', default: "''" },
    delivered: { type: 'int', default: 0 },
    failed: { type: 'int', default: 0 },
    cursor: { type: 'int', default: 0 },
    /** Failed attempts at the event after the cursor, and when the next is due (epoch ms). */
    attempts: { type: 'int', default: 0 },
    next_at: { type: 'int', default: 0 },
    dropped: { type: 'int', default: 0 },
  },
  seq: 'plain',
};
