import { BUDGET_COLUMNS, budgetRow, SPEND, scopeParts, spendRow, type BudgetRow, type Spend, type SpendRow } from '../../../schemas/db/llm.js';
import { only, sql } from '../../../schemas/db/sql.js';
import type { LlmRecordIn } from '../../../schemas/rpc/writer.js';
import { LLM, type LlmRow } from '../../../schemas/db/tables/llm.js';
import { then, type Awaitable } from '../../shared/awaitable.js';
import type { ReadStatement, Reads } from '../../backend/reads.js';

export type LlmInput = LlmRecordIn;

/** A stored record; `created_at` is storage text here, RFC 3339 in the API. */
export type LlmRecord = LlmRow;

export interface Sum {
  total_tokens_in: number;
  total_tokens_out: number;
  total_cost_usd: number;
  request_count: number;
}

export type GroupColumn = 'instance_id' | 'project' | 'model' | 'session_tag';

export interface ListFilter {
  /** Only the first present of instance > project > session_tag applies. */
  by: { column: 'instance_id' | 'project' | 'session_tag'; value: string } | null;
  from: string | null;
  to: string | null;
  limit: number;
}

/** Storage-text bounds, inclusive. */
export interface Span {
  from: string | null;
  to: string | null;
  /** The summary only: one project's records (a scoped token's view); absent/null = all. */
  project?: string | null;
}

/** Read-only queries of the LLM usage log; SQLite answers at once, PostgreSQL with a promise. */
export interface LlmReader {
  /** Newest first (created_at, then id), at most `limit`. */
  list(f: ListFilter): Awaitable<LlmRecord[]>;
  /** Sums per value of `column` (by value) and over the whole span. */
  summary(column: GroupColumn, span: Span): Awaitable<{ groups: Array<Sum & { g: string }>; total: Sum }>;
  /** Every budget, by scope. */
  budgets(): Awaitable<BudgetRow[]>;
  /** The budgets of these scopes (and `global`) that were exceeded in some period: the caller compares the period. */
  exceeded(scopes: readonly [string, string, string]): Awaitable<BudgetRow[]>;
  /** What a budget's scope spent since `start` (storage text, '' = ever). */
  spend(scope: string, start: string): Awaitable<Spend>;
  /**
   * The agent a coding-agent session's records go to (its hook binding, else whom its earlier
   * records went to; '' = none yet) and the token that bound it (its instance's `token_id`).
   */
  sessionOwner(sessionId: string): Awaitable<{ instance_id: string; token_id: string }>;
}

const COLUMNS = LLM.columns;
const BUDGETS = sql(`SELECT ${BUDGET_COLUMNS} FROM budgets ORDER BY scope`);
const EXCEEDED = sql(`SELECT ${BUDGET_COLUMNS} FROM budgets WHERE exceeded <> '' AND scope IN (?, ?, ?, 'global')`);
/** Storage-text bounds, inclusive: parameters from ×2, to ×2. */
const SPAN = '(CAST(? AS text) IS NULL OR created_at >= ?) AND (CAST(? AS text) IS NULL OR created_at <= ?)';
const span = (s: Span) => [s.from, s.from, s.to, s.to];
/** The summary's filter: the span, and one project when asked. */
const SUMMARY_WHERE = `${SPAN} AND (CAST(? AS text) IS NULL OR project = ?)`;
const summarySpan = (s: Span) => [...span(s), s.project ?? null, s.project ?? null];
const listBy = (where: string) => sql(`SELECT ${COLUMNS} FROM llm_usage WHERE ${where} AND ${SPAN} ORDER BY created_at DESC, id DESC LIMIT CAST(? AS bigint)`);
/** The list by its one filter (parameters: the filter's value, unless all, then the span and the limit). */
const LISTS = { all: listBy('1 = 1'), instance_id: listBy('instance_id = ?'), project: listBy('project = ?'), session_tag: listBy('session_tag = ?') };
const SESSION_OWNER = sql(
  `SELECT o.instance_id, coalesce(i.token_id, '') AS token_id
     FROM (SELECT coalesce((SELECT instance_id FROM hook_sessions WHERE session_id = ?),
                           (SELECT instance_id FROM llm_usage WHERE session_id = ? AND session_id <> '' AND instance_id <> '' ORDER BY id DESC LIMIT 1), '') AS instance_id) o
     LEFT JOIN instances i ON i.id = o.instance_id`,
);
const GROUP_COLUMNS: readonly GroupColumn[] = ['instance_id', 'project', 'model', 'session_tag'];

/**
 * Sums per value of a column and over the span. SQLite sums REAL with Kahan-Babuska-Neumaier
 * compensation (the correctly rounded sum, but for pathological inputs); PostgreSQL's sum(float8)
 * adds naively (0.1 + 0.2 + 0.3 = 0.6000000000000001), so there the costs are summed exactly
 * instead: their integer significands in SQL per group and exponent, the few parts here, rounded once.
 */
const summaries = {
  sqlite(db: Reads): LlmReader['summary'] {
    const SUMS = 'coalesce(sum(tokens_in), 0) AS total_tokens_in, coalesce(sum(tokens_out), 0) AS total_tokens_out, coalesce(sum(cost_usd), 0) AS total_cost_usd, count(*) AS request_count';
    const groups = Object.fromEntries(
      GROUP_COLUMNS.map((col) => [col, db.statement<Sum & { g: string }>(only('sqlite', `SELECT ${col} AS g, ${SUMS} FROM llm_usage WHERE ${SUMMARY_WHERE} GROUP BY ${col} ORDER BY ${col}`))]),
    ) as Record<GroupColumn, ReadStatement<Sum & { g: string }>>;
    const total = db.statement<Sum>(only('sqlite', `SELECT ${SUMS} FROM llm_usage WHERE ${SUMMARY_WHERE}`));
    return (column, s) => ({ groups: groups[column].all(...summarySpan(s)) as Array<Sum & { g: string }>, total: total.get(...summarySpan(s)) as Sum });
  },
  pg(db: Reads): LlmReader['summary'] {
    const parts = Object.fromEntries(
      GROUP_COLUMNS.map((col) => [
        col,
        db.statement<Part>(
          only(
            'pg',
            `SELECT g, e, sum(m)::text AS m, sum(tokens_in)::bigint AS tokens_in, sum(tokens_out)::bigint AS tokens_out, count(*)::int AS n
               FROM (SELECT g, tokens_in, tokens_out, ((bits >> 52) & 2047)::int AS e,
                            (CASE WHEN bits < 0 THEN -1 ELSE 1 END) * ((bits & 4503599627370495) | (CASE WHEN (bits >> 52) & 2047 = 0 THEN 0 ELSE 4503599627370496 END)) AS m
                       FROM (SELECT ${col} AS g, tokens_in, tokens_out, ('x' || encode(float8send(cost_usd), 'hex'))::bit(64)::bigint AS bits
                               FROM llm_usage WHERE ${SUMMARY_WHERE}) r) p
              GROUP BY g, e ORDER BY g`,
          ),
        ),
      ]),
    ) as Record<GroupColumn, ReadStatement<Part>>;
    const sums = (list: Part[]): Sum => ({
      total_tokens_in: list.reduce((a, p) => a + p.tokens_in, 0),
      total_tokens_out: list.reduce((a, p) => a + p.tokens_out, 0),
      total_cost_usd: roundedSum(list),
      request_count: list.reduce((a, p) => a + p.n, 0),
    });
    return (column, s) =>
      then(parts[column].all(...summarySpan(s)), (rows) => {
        const byGroup = new Map<string, Part[]>();
        for (const p of rows) {
          const list = byGroup.get(p.g);
          if (list) list.push(p);
          else byGroup.set(p.g, [p]);
        }
        return { groups: [...byGroup].map(([g, list]) => ({ g, ...sums(list) })), total: sums(rows) };
      });
  },
};

/** The LLM usage log's reads, on either backend. */
export function llmReader(db: Reads): LlmReader {
  const lists = { all: db.statement<LlmRecord>(LISTS.all), instance_id: db.statement<LlmRecord>(LISTS.instance_id), project: db.statement<LlmRecord>(LISTS.project), session_tag: db.statement<LlmRecord>(LISTS.session_tag) };
  const budgets = db.statement<BudgetRow>(BUDGETS);
  const exceeded = db.statement<BudgetRow>(EXCEEDED);
  const owner = db.statement<{ instance_id: string; token_id: string }>(SESSION_OWNER);
  const spend = { agent: db.statement<SpendRow>(SPEND.agent), project: db.statement<SpendRow>(SPEND.project), session: db.statement<SpendRow>(SPEND.session), global: db.statement<SpendRow>(SPEND.global) };
  return {
    list: (f) => (f.by === null ? lists.all.all(...span(f), f.limit) : lists[f.by.column].all(f.by.value, ...span(f), f.limit)),
    summary: summaries[db.dialect](db),
    budgets: () => then(budgets.all(), (rows) => rows.map(budgetRow)),
    exceeded: (scopes) => then(exceeded.all(...scopes), (rows) => rows.map(budgetRow)),
    spend: (scope, start) => {
      const [kind, value] = scopeParts(scope);
      return then(spend[kind].get(value, value, start), spendRow);
    },
    sessionOwner: (id) => then(owner.get(id, id), (r) => r ?? { instance_id: '', token_id: '' }),
  };
}

/** Per group and binary exponent: the exact integer sum of the costs' signed significands. */
interface Part {
  g: string;
  e: number;
  /** numeric, as text. */
  m: string;
  tokens_in: number;
  tokens_out: number;
  n: number;
}

/** An exact sum Σ m·2^(max(e,1)−1075) over parts, rounded once to the nearest double (ties to even). */
export function roundedSum(parts: ReadonlyArray<{ e: number; m: string }>): number {
  let n = 0n; // the sum scaled by 2^1074: an integer
  for (const p of parts) n += BigInt(p.m) << BigInt(Math.max(p.e, 1) - 1);
  const neg = n < 0n;
  if (neg) n = -n;
  let shift = n.toString(2).length - 53;
  if (shift > 0) {
    const low = n & ((1n << BigInt(shift)) - 1n);
    const half = 1n << BigInt(shift - 1);
    n >>= BigInt(shift);
    if (low > half || (low === half && (n & 1n) === 1n)) n += 1n;
  } else shift = 0;
  const x = Number(n) * 2 ** (shift - 1074);
  return neg ? -x : x;
}
