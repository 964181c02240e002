import type { Sql } from 'postgres';
import type { Awaitable, ReadDb } from '../../store.js';

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

export function sqliteRuleReader(db: ReadDb): RuleReader {
  const q = {
    list: db.prepare<[string], StoredRule>(`SELECT ${COLS} FROM validation_rules WHERE project = ? ORDER BY rule_id`),
    forValidation: db.prepare<[string, string, string], StoredRule>(
      `SELECT ${COLS} FROM validation_rules WHERE status = 'accepted' AND (project = ? OR project = ?) ORDER BY project = ?, rule_id`,
    ),
    byStatus: db.prepare<[string], StoredRule>(`SELECT ${COLS} FROM validation_rules WHERE status = ? ORDER BY project, rule_id`),
    all: db.prepare<[], StoredRule>(`SELECT ${COLS} FROM validation_rules ORDER BY project, rule_id`),
  };
  return {
    list: (project) => q.list.all(project),
    forValidation: (project, global) => q.forValidation.all(project, global, global),
    all: (status) => (status === null ? q.all.all() : q.byStatus.all(status)),
  };
}

/** The same on PostgreSQL (cluster mode): text collates "C", so the order is SQLite's. */
export function pgRuleReader(sql: Sql): RuleReader {
  const cols = sql.unsafe(COLS);
  return {
    async list(project) {
      return [...(await sql<StoredRule[]>`SELECT ${cols} FROM validation_rules WHERE project = ${project} ORDER BY rule_id`)];
    },
    async forValidation(project, global) {
      return [
        ...(await sql<StoredRule[]>`
          SELECT ${cols} FROM validation_rules WHERE status = 'accepted' AND (project = ${project} OR project = ${global})
          ORDER BY project = ${global}, rule_id`),
      ];
    },
    async all(status) {
      return [
        ...(status === null
          ? await sql<StoredRule[]>`SELECT ${cols} FROM validation_rules ORDER BY project, rule_id`
          : await sql<StoredRule[]>`SELECT ${cols} FROM validation_rules WHERE status = ${status} ORDER BY project, rule_id`),
      ];
    },
  };
}
