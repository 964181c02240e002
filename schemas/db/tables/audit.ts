import { dialects } from '../sql.js';
import { f, record } from '../record.js';

/** The entries a digest reports (src/domains/hooks/reader.ts), as SQL: the term its reads and their index share. */
export const DIGEST_AUDIT = "action IN ('rule.accept', 'spec.put', 'spec.delete', 'instance.register')";

/**
 * The audit log: an entry per audited write, in the write's own transaction. Not indexed by
 * actor or action (they cost every audited write two more b-tree inserts, and no query used
 * them: a listing filtered by actor walks the log newest first, bounded by audit_keep). Not by
 * timestamp (a page in every audited commit): entries are written in time order, so retention by
 * age walks the oldest by id, and a span's counts (`timestamp >= ? OR ? IS NULL`) scanned the
 * table with the index too. One partial index, of the few entries a digest reports (an insert
 * more for those alone): a digest seeks them, where it walked every entry since its cursor — with
 * 1,000 agents writing, thousands a digest, 16 % of the server's main thread.
 */
export const AUDIT = record(
  'audit_log',
  {
    /** Retention never deletes the newest entry (workers/writer/stores/system.ts): so no AUTOINCREMENT on SQLite. */
    id: f.int({ id: 'log', newestKept: true }),
    timestamp: f.time(),
    actor: f.text({ default: "''" }),
    action: f.text(),
    resource: f.text({ default: "''" }),
    /** Compact JSON text with sorted keys: a string in replies, not an object. */
    detail: f.text({ default: "'{}'" }),
    outcome: f.text({ default: "'success'" }),
  },
  { indexes: [{ name: 'audit_log_digest', on: 'id', where: DIGEST_AUDIT }] },
);
export const AUDIT_LOG = AUDIT.table;

/** The newest audit entry's id (0 or no row before the first): retention keeps the newest row. */
export const NEWEST_AUDIT = dialects({
  sqlite: 'SELECT max(id) AS id FROM audit_log',
  pg: 'SELECT coalesce(max(id), 0) AS id FROM audit_log',
});

