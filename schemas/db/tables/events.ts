import { dialects, sql } from '../sql.js';
import type { Table } from '../table.js';

/** The event log: ids gapless and visible in id order (see Column.id). */
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

/** PostgreSQL's id counters (events, tasks, messages) and the count of live restores. */
export const KOOR_COUNTERS: Table = {
  name: 'koor_counters',
  onlyIn: 'pg',
  columns: { name: { type: 'text', primaryKey: true }, value: { type: 'int' } },
};

/** The oldest event id retention kept (null when the log is empty). */
export const OLDEST_EVENT = sql('SELECT min(id) AS id FROM events');

/** The newest event id ever handed out (no row before the first): SQLite's AUTOINCREMENT sequence, PostgreSQL's counter. */
export const NEWEST_EVENT = dialects({
  sqlite: "SELECT seq AS id FROM sqlite_sequence WHERE name = 'events'",
  pg: "SELECT value AS id FROM koor_counters WHERE name = 'events'",
});
