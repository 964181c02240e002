import type { Sql } from 'postgres';
import type { Awaitable, ReadDb } from '../../store.js';

/** A compliance run as stored: `pass` 0/1, `violations` JSON text, `run_at` storage text. */
export interface RunRow {
  id: number;
  instance_id: string;
  project: string;
  contract: string;
  pass: number;
  violations: string;
  run_at: string;
}

/** Read-only queries of the compliance runs; SQLite answers at once, PostgreSQL with a promise. */
export interface ComplianceReader {
  /** Newest first (by id), at most `limit`; one instance's, or all when null. */
  history(instanceId: string | null, limit: number): Awaitable<RunRow[]>;
}

const COLUMNS = 'id, instance_id, project, contract, pass, violations, run_at';

/** The compliance runs on the front process's SQLite read connection. */
export function sqliteComplianceReader(db: ReadDb): ComplianceReader {
  const all = db.prepare<[number], RunRow>(`SELECT ${COLUMNS} FROM compliance_runs ORDER BY id DESC LIMIT ?`);
  const byInstance = db.prepare<[string, number], RunRow>(`SELECT ${COLUMNS} FROM compliance_runs WHERE instance_id = ? ORDER BY id DESC LIMIT ?`);
  return {
    history: (instanceId, limit) => (instanceId === null ? all.all(limit) : byInstance.all(instanceId, limit)),
  };
}

/** The same queries on PostgreSQL (cluster mode). */
export function pgComplianceReader(sql: Sql): ComplianceReader {
  return {
    async history(instanceId, limit) {
      const where = instanceId === null ? sql`true` : sql`instance_id = ${instanceId}`;
      return [...(await sql<RunRow[]>`SELECT ${sql.unsafe(COLUMNS)} FROM compliance_runs WHERE ${where} ORDER BY id DESC LIMIT ${limit}`)];
    },
  };
}
