import { sql } from './sql.js';

/**
 * The llm_usage and budgets tables (schemas/db/tables/llm.ts) as both sides read them:
 * the writer weighs a budget after each record, the front lists budgets with their spend.
 */

export const BUDGET_COLUMNS = 'scope, usd, tokens, period, warn_at, warned, exceeded, updated_at, spent_key, spent_usd, spent_tokens, unpriced';

/** A budgets row; a cap of -1 is none. */
export interface BudgetRow {
  scope: string;
  usd: number;
  tokens: number;
  period: 'day' | 'week' | 'month' | 'total';
  warn_at: number;
  warned: string;
  exceeded: string;
  updated_at: string;
  /** The running spend of the period `spent_key` names ('' = none kept). */
  spent_key: string;
  spent_usd: number;
  spent_tokens: number;
  unpriced: number;
}

/** A budgets row as read (PostgreSQL's bigint arrives as text). */
export const budgetRow = (r: BudgetRow): BudgetRow => ({ ...r, usd: Number(r.usd), tokens: Number(r.tokens), warn_at: Number(r.warn_at), spent_usd: Number(r.spent_usd), spent_tokens: Number(r.spent_tokens), unpriced: Number(r.unpriced) });

/**
 * What a scope has spent since a start (storage text, '' = ever): the cost of the records with
 * one (reported or priced), tokens in and out (cache tokens are in the cost, not the count), and
 * how many records had no price. Parameters: the scope's value twice (an agent: its id or its
 * name), then the start.
 */
const SUMS = "coalesce(sum(cost_usd), 0) AS usd, coalesce(sum(tokens_in + tokens_out), 0) AS tokens, coalesce(sum(CASE WHEN cost_source = 'unknown' THEN 1 ELSE 0 END), 0) AS unpriced";
export const SPEND = {
  agent: sql(`SELECT ${SUMS} FROM llm_usage WHERE (instance_id = ? OR instance_id IN (SELECT id FROM instances WHERE name = ?)) AND created_at >= ?`),
  project: sql(`SELECT ${SUMS} FROM llm_usage WHERE project = ? AND project = ? AND created_at >= ?`),
  session: sql(`SELECT ${SUMS} FROM llm_usage WHERE session_tag = ? AND session_tag = ? AND created_at >= ?`),
  global: sql(`SELECT ${SUMS} FROM llm_usage WHERE CAST(? AS text) = CAST(? AS text) AND created_at >= ?`),
};
export type SpendRow = { usd: number | string; tokens: number | string; unpriced: number | string };

export interface Spend {
  usd: number;
  tokens: number;
  unpriced: number;
}
export const spendRow = (r: SpendRow | undefined): Spend => ({ usd: Number(r?.usd ?? 0), tokens: Number(r?.tokens ?? 0), unpriced: Number(r?.unpriced ?? 0) });

/** A scope's kind and value: `agent:x` → ['agent', 'x']; `global` → ['global', '']. */
export function scopeParts(scope: string): [keyof typeof SPEND, string] {
  if (scope === 'global') return ['global', ''];
  const i = scope.indexOf(':');
  return [scope.slice(0, i) as keyof typeof SPEND, scope.slice(i + 1)];
}

/** How full a budget is: the larger of its two ratios (a cap of -1 is none; a cap of 0 is full at any spend). */
export function budgetFill(b: Pick<BudgetRow, 'usd' | 'tokens'>, s: Spend): number {
  const ratio = (cap: number, spent: number) => (cap < 0 ? 0 : cap === 0 ? (spent > 0 ? Infinity : 0) : spent / cap);
  return Math.max(ratio(b.usd, s.usd), ratio(b.tokens, s.tokens));
}
