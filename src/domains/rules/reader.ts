import type { Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { sql } from '../../../schemas/db/sql.js';
import { RULE, type RuleDbRow } from '../../../schemas/db/tables/rules.js';

/** Read-only queries of the rule store; SQLite answers at once, PostgreSQL with a promise. */
export interface RuleReader {
  /** One project's rules, any status, by rule_id. */
  list(project: string): Awaitable<RuleDbRow[]>;
  /** Accepted rules of `project`, then of `global` (once when they are the same), each by rule_id. */
  forValidation(project: string, global: string): Awaitable<RuleDbRow[]>;
  /** Every rule (of one status, or all), by project and rule_id. */
  all(status: string | null): Awaitable<RuleDbRow[]>;
}

const LIST = sql(`SELECT ${RULE.columns} FROM validation_rules WHERE project = ? ORDER BY rule_id`);
/** Parameters: project, global, global. Text collates "C" on PostgreSQL, so the order is SQLite's. */
const FOR_VALIDATION = sql(`SELECT ${RULE.columns} FROM validation_rules WHERE status = 'accepted' AND (project = ? OR project = ?) ORDER BY project = ?, rule_id`);
const BY_STATUS = sql(`SELECT ${RULE.columns} FROM validation_rules WHERE status = ? ORDER BY project, rule_id`);
const ALL = sql(`SELECT ${RULE.columns} FROM validation_rules ORDER BY project, rule_id`);

/** The rule store's reads, on either backend. */
export function ruleReader(db: Reads): RuleReader {
  const list = db.statement<RuleDbRow>(LIST);
  const forValidation = db.statement<RuleDbRow>(FOR_VALIDATION);
  const byStatus = db.statement<RuleDbRow>(BY_STATUS);
  const all = db.statement<RuleDbRow>(ALL);
  return {
    list: (project) => list.all(project),
    forValidation: (project, global) => forValidation.all(project, global, global),
    all: (status) => (status === null ? all.all() : byStatus.all(status)),
  };
}
