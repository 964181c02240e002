import type { Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { sql } from '../../../schemas/db/sql.js';
import { COMPLIANCE_RUN, type RunDbRow } from '../../../schemas/db/tables/compliance.js';

/** A compliance run as stored: `pass` 0/1, `violations` JSON text, `run_at` storage text. */
export type RunRow = RunDbRow;

/** Read-only queries of the compliance runs; SQLite answers at once, PostgreSQL with a promise. */
export interface ComplianceReader {
  /** Newest first (by id), at most `limit`; one instance's, or all when null. */
  history(instanceId: string | null, limit: number): Awaitable<RunRow[]>;
}

const COLUMNS = COMPLIANCE_RUN.columns;

/** The compliance runs on the front process's SQLite read connection. */
const ALL = sql(`SELECT ${COLUMNS} FROM compliance_runs ORDER BY id DESC LIMIT CAST(? AS bigint)`);
const BY_INSTANCE = sql(`SELECT ${COLUMNS} FROM compliance_runs WHERE instance_id = ? ORDER BY id DESC LIMIT CAST(? AS bigint)`);

/** The compliance runs' reads, on either backend. */
export function complianceReader(db: Reads): ComplianceReader {
  const all = db.statement<RunRow>(ALL);
  const byInstance = db.statement<RunRow>(BY_INSTANCE);
  return {
    history: (instanceId, limit) => (instanceId === null ? all.all(limit) : byInstance.all(instanceId, limit)),
  };
}
