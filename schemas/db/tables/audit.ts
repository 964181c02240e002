import { dialects } from '../sql.js';
import type { Table } from '../table.js';

/** The audit log (SPEC §2.13). */
export const AUDIT_LOG: Table = {
  name: 'audit_log',
  columns: {
    id: { type: 'int', id: 'log' },
    timestamp: { type: 'text' },
    actor: { type: 'text', default: "''" },
    action: { type: 'text' },
    resource: { type: 'text', default: "''" },
    detail: { type: 'text', default: "'{}'" },
    outcome: { type: 'text', default: "'success'" },
  },
  /**
   * Retention by age finds the oldest by timestamp. No index by actor or action (issue 33: they
   * cost every audited write two more b-tree inserts, and no query used them: a listing filtered
   * by actor walks the log newest first, bounded by audit_keep).
   */
  indexes: [{ name: 'audit_log_timestamp', on: 'timestamp' }],
};

/** The newest audit entry's id (0 or no row before the first): SQLite's AUTOINCREMENT sequence, PostgreSQL's identity. */
export const NEWEST_AUDIT = dialects({
  sqlite: "SELECT seq AS id FROM sqlite_sequence WHERE name = 'audit_log'",
  pg: 'SELECT coalesce(max(id), 0) AS id FROM audit_log',
});

