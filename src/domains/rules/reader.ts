import type { Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { sql } from '../../../schemas/db/sql.js';

/** A validation_rules row as stored (`applies_to` JSON text). */
export interface StoredRule {
  project: string;
  rule_id: string;
  severity: string;
  match_type: string;
  pattern: string;
  message: string;
  stack: string;
  applies_to: string;
  source: string;
  status: string;
  proposed_by: string;
  context: string;
  created_at: string;
}

/** Read-only queries of the rule store; SQLite answers at once, PostgreSQL with a promise. */
export interface RuleReader {
  /** One project's rules, any status, by rule_id. */
  list(project: string): Awaitable<StoredRule[]>;
  /** Accepted rules of `project`, then of `global` (once when they are the same), each by rule_id. */
  forValidation(project: string, global: string): Awaitable<StoredRule[]>;
  /** Every rule (of one status, or all), by project and rule_id. */
  all(status: string | null): Awaitable<StoredRule[]>;
}

const COLS = 'project, rule_id, severity, match_type, pattern, message, stack, applies_to, source, status, proposed_by, context, created_at';

const LIST = sql(`SELECT ${COLS} FROM validation_rules WHERE project = ? ORDER BY rule_id`);
/** Parameters: project, global, global. Text collates "C" on PostgreSQL, so the order is SQLite's. */
const FOR_VALIDATION = sql(`SELECT ${COLS} FROM validation_rules WHERE status = 'accepted' AND (project = ? OR project = ?) ORDER BY project = ?, rule_id`);
const BY_STATUS = sql(`SELECT ${COLS} FROM validation_rules WHERE status = ? ORDER BY project, rule_id`);
const ALL = sql(`SELECT ${COLS} FROM validation_rules ORDER BY project, rule_id`);

/** The rule store's reads, on either backend. */
export function ruleReader(db: Reads): RuleReader {
  const list = db.statement<StoredRule>(LIST);
  const forValidation = db.statement<StoredRule>(FOR_VALIDATION);
  const byStatus = db.statement<StoredRule>(BY_STATUS);
  const all = db.statement<StoredRule>(ALL);
  return {
    list: (project) => list.all(project),
    forValidation: (project, global) => forValidation.all(project, global, global),
    all: (status) => (status === null ? all.all() : byStatus.all(status)),
  };
}
