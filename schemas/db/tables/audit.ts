import { dialects } from '../sql.js';
import type { Table } from '../table.js';

/** The audit log. */
export const AUDIT_LOG: Table = {
  name: 'audit_log',
  columns: {
    /** Retention never deletes the newest entry (workers/writer/stores/system.ts): so no AUTOINCREMENT on SQLite. */
    id: { type: 'int', id: 'log', newestKept: true },
    timestamp: { type: 'text' },
    actor: { type: 'text', default: "''" },
    action: { type: 'text' },
    resource: { type: 'text', default: "''" },
    detail: { type: 'text', default: "'{}'" },
    outcome: { type: 'text', default: "'success'" },
  },
  /**
   * No indexes. Not by actor or action (they cost every audited write two more b-tree
   * inserts, and no query used them: a listing filtered by actor walks the log newest first,
   * bounded by audit_keep). Not by timestamp (a page in every audited commit): entries
   * are written in time order, so retention by age walks the oldest by id, and a span's counts
   * (`timestamp >= ? OR ? IS NULL`) scanned the table with the index too.
   */
};

/** The newest audit entry's id (0 or no row before the first): retention keeps the newest row. */
export const NEWEST_AUDIT = dialects({
  sqlite: 'SELECT max(id) AS id FROM audit_log',
  pg: 'SELECT coalesce(max(id), 0) AS id FROM audit_log',
});

