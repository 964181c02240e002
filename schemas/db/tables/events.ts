import { f, record } from '../record.js';
import { dialects, sql } from '../sql.js';
import type { Table } from '../table.js';

/**
 * The event log: ids gapless and visible in id order (see Column.id). Its reply is the publish
 * reply, each element of GET /api/events/history and each frame of a subscription; `data` is any
 * JSON (null when none was sent), kept as the text published.
 */
export const EVENT = record(
  'events',
  {
    id: f.int({ id: 'counter' }),
    topic: f.text(),
    data: f.raw(),
    source: f.text({ default: "''" }),
    created_at: f.time(),
  },
  { indexes: [{ name: 'events_created_at', on: 'created_at' }] },
);
export const EVENTS = EVENT.table;

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
