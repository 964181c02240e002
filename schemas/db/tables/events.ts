import { dialects } from '../sql.js';
import type { Table } from '../table.js';

/** The event log (SPEC §2.4): ids gapless and visible in id order (see Column.id). */
export const EVENTS: Table = {
  name: 'events',
  columns: {
    id: { type: 'int', id: 'counter' },
    topic: { type: 'text' },
    data: { type: 'text', default: "'null'" },
    source: { type: 'text', default: "''" },
    created_at: { type: 'text' },
  },
  indexes: [{ name: 'events_created_at', on: 'created_at' }],
};

/** Webhooks (SPEC §2.11): each reads the event log from a durable cursor (the last event it has had). */
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

/** PostgreSQL's id counters (events, tasks, messages) and the count of live restores. */
export const KOOR_COUNTERS: Table = {
  name: 'koor_counters',
  onlyIn: 'pg',
  columns: { name: { type: 'text', primaryKey: true }, value: { type: 'int' } },
};

/** The newest event id ever handed out (no row before the first): SQLite's AUTOINCREMENT sequence, PostgreSQL's counter. */
export const NEWEST_EVENT = dialects({
  sqlite: "SELECT seq AS id FROM sqlite_sequence WHERE name = 'events'",
  pg: "SELECT value AS id FROM koor_counters WHERE name = 'events'",
});
