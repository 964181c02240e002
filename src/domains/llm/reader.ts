import type { Sql } from 'postgres';
import type { Awaitable, ReadDb } from '../../store.js';

export interface LlmInput {
  instance_id: string;
  project: string;
  provider: string;
  model: string;
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  request_type: string;
  session_tag: string;
}

/** A stored record; `created_at` is storage text here, RFC 3339 in the API. */
export type LlmRecord = LlmInput & { id: number; created_at: string };

export interface Sum {
  total_tokens_in: number;
  total_tokens_out: number;
  total_cost_usd: number;
  request_count: number;
}

export type GroupColumn = 'instance_id' | 'project' | 'model' | 'session_tag';

export interface ListFilter {
  /** Only the first present of instance > project > session_tag applies (SPEC §2.15). */
  by: { column: 'instance_id' | 'project' | 'session_tag'; value: string } | null;
  from: string | null;
  to: string | null;
  limit: number;
}

/** Storage-text bounds, inclusive. */
export interface Span {
  from: string | null;
  to: string | null;
}

/** Read-only queries of the LLM usage log; SQLite answers at once, PostgreSQL with a promise. */
export interface LlmReader {
  /** Newest first (created_at, then id), at most `limit`. */
  list(f: ListFilter): Awaitable<LlmRecord[]>;
  /** Sums per value of `column` (by value) and over the whole span. */
  summary(column: GroupColumn, span: Span): Awaitable<{ groups: Array<Sum & { g: string }>; total: Sum }>;
}

const COLUMNS = 'id, instance_id, project, provider, model, tokens_in, tokens_out, cost_usd, request_type, session_tag, created_at';
const SPAN = '(@from IS NULL OR created_at >= @from) AND (@to IS NULL OR created_at <= @to)';
const SUMS = 'coalesce(sum(tokens_in), 0) AS total_tokens_in, coalesce(sum(tokens_out), 0) AS total_tokens_out, coalesce(sum(cost_usd), 0) AS total_cost_usd, count(*) AS request_count';

/** The LLM usage log on the front process's SQLite read connection. */
export function sqliteLlmReader(db: ReadDb): LlmReader {
  const list = (where: string) =>
    db.prepare<[{ v: string | null; from: string | null; to: string | null; limit: number }], LlmRecord>(
      `SELECT ${COLUMNS} FROM llm_usage WHERE ${where} AND ${SPAN} ORDER BY created_at DESC, id DESC LIMIT @limit`,
    );
  const lists = { all: list('1 = 1'), instance_id: list('instance_id = @v'), project: list('project = @v'), session_tag: list('session_tag = @v') };
  const group = (col: GroupColumn) => db.prepare<[Span], Sum & { g: string }>(`SELECT ${col} AS g, ${SUMS} FROM llm_usage WHERE ${SPAN} GROUP BY ${col} ORDER BY ${col}`);
  const groups = { instance_id: group('instance_id'), project: group('project'), model: group('model'), session_tag: group('session_tag') };
  const total = db.prepare<[Span], Sum>(`SELECT ${SUMS} FROM llm_usage WHERE ${SPAN}`);
  return {
    list: (f) => (f.by === null ? lists.all : lists[f.by.column]).all({ v: f.by?.value ?? null, from: f.from, to: f.to, limit: f.limit }),
    summary(column, span) {
      const s = { from: span.from, to: span.to };
      return { groups: groups[column].all(s), total: total.get(s)! };
    },
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

/**
 * The same queries on PostgreSQL (cluster mode). SQLite sums REAL with Kahan-Babuska-Neumaier
 * compensation (the correctly rounded sum, but for pathological inputs), PostgreSQL's sum(float8)
 * adds naively (0.1 + 0.2 + 0.3 = 0.6000000000000001): so the costs are summed exactly instead,
 * their integer significands in SQL per group and exponent, the few parts here, rounded once.
 */
export function pgLlmReader(sql: Sql): LlmReader {
  const span = (s: Span) => sql`(${s.from}::text IS NULL OR created_at >= ${s.from}) AND (${s.to}::text IS NULL OR created_at <= ${s.to})`;
  const sums = (parts: Part[]): Sum => ({
    total_tokens_in: parts.reduce((a, p) => a + p.tokens_in, 0),
    total_tokens_out: parts.reduce((a, p) => a + p.tokens_out, 0),
    total_cost_usd: roundedSum(parts),
    request_count: parts.reduce((a, p) => a + p.n, 0),
  });
  return {
    async list(f) {
      const by = f.by === null ? sql`true` : sql`${sql(f.by.column)} = ${f.by.value}`;
      return [
        ...(await sql<LlmRecord[]>`
          SELECT ${sql.unsafe(COLUMNS)} FROM llm_usage WHERE ${by} AND ${span(f)} ORDER BY created_at DESC, id DESC LIMIT ${f.limit}`),
      ];
    },
    async summary(column, s) {
      const parts = await sql<Part[]>`
        SELECT g, e, sum(m)::text AS m, sum(tokens_in)::bigint AS tokens_in, sum(tokens_out)::bigint AS tokens_out, count(*)::int AS n
          FROM (SELECT g, tokens_in, tokens_out, ((bits >> 52) & 2047)::int AS e,
                       (CASE WHEN bits < 0 THEN -1 ELSE 1 END) * ((bits & 4503599627370495) | (CASE WHEN (bits >> 52) & 2047 = 0 THEN 0 ELSE 4503599627370496 END)) AS m
                  FROM (SELECT ${sql(column)} AS g, tokens_in, tokens_out, ('x' || encode(float8send(cost_usd), 'hex'))::bit(64)::bigint AS bits
                          FROM llm_usage WHERE ${span(s)}) r) p
         GROUP BY g, e ORDER BY g`;
      const byGroup = new Map<string, Part[]>();
      for (const p of parts) {
        const list = byGroup.get(p.g);
        if (list) list.push(p);
        else byGroup.set(p.g, [p]);
      }
      return { groups: [...byGroup].map(([g, list]) => ({ g, ...sums(list) })), total: sums([...parts]) };
    },
  };
}
