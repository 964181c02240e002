import type { Sql } from 'postgres';
import type { Awaitable, ReadDb } from '../../store.js';

/** An audit entry as stored: `timestamp` is storage text. */
export interface AuditRow {
  id: number;
  timestamp: string;
  actor: string;
  action: string;
  resource: string;
  /** Compact JSON text with sorted keys (SPEC §2.13). */
  detail: string;
  outcome: string;
}

/** Bounds as storage text (inclusive), compared as instants (SPEC §7-7). */
export interface Span {
  from: string | null;
  to: string | null;
}

export interface AuditFilter extends Span {
  /** Exact, or null for all. */
  actor: string | null;
  action: string | null;
  limit: number;
}

/** Counts over a span; `actions` and `outcomes` by key. */
export interface AuditCounts {
  total: number;
  actors: number;
  resources: number;
  actions: Array<{ k: string; n: number }>;
  outcomes: Array<{ k: string; n: number }>;
}

/** Read-only queries of the audit log; SQLite answers at once, PostgreSQL with a promise. */
export interface AuditReader {
  /** Newest first (by id), at most `limit`. */
  list(f: AuditFilter): Awaitable<AuditRow[]>;
  counts(span: Span): Awaitable<AuditCounts>;
}

const COLUMNS = 'id, timestamp, actor, action, resource, detail, outcome';
const SPAN = '(@from IS NULL OR timestamp >= @from) AND (@to IS NULL OR timestamp <= @to)';

/** The audit log on the front process's SQLite read connection. */
export function sqliteAuditReader(db: ReadDb): AuditReader {
  const q = {
    list: db.prepare<[AuditFilter], AuditRow>(
      `SELECT ${COLUMNS} FROM audit_log
       WHERE (@actor IS NULL OR actor = @actor) AND (@action IS NULL OR action = @action) AND ${SPAN}
       ORDER BY id DESC LIMIT @limit`,
    ),
    totals: db.prepare<[Span], { total: number; actors: number; resources: number }>(
      `SELECT count(*) AS total, count(DISTINCT actor) AS actors, count(DISTINCT resource) AS resources FROM audit_log WHERE ${SPAN}`,
    ),
    byAction: db.prepare<[Span], { k: string; n: number }>(`SELECT action AS k, count(*) AS n FROM audit_log WHERE ${SPAN} GROUP BY action ORDER BY action`),
    byOutcome: db.prepare<[Span], { k: string; n: number }>(`SELECT outcome AS k, count(*) AS n FROM audit_log WHERE ${SPAN} GROUP BY outcome ORDER BY outcome`),
  };
  return {
    list: (f) => q.list.all(f),
    counts(span) {
      const s = { from: span.from, to: span.to };
      return { ...q.totals.get(s)!, actions: q.byAction.all(s), outcomes: q.byOutcome.all(s) };
    },
  };
}

/** The same queries on PostgreSQL (cluster mode); the counts read one snapshot. */
export function pgAuditReader(sql: Sql): AuditReader {
  const span = (s: Span) => sql`(${s.from}::text IS NULL OR timestamp >= ${s.from}) AND (${s.to}::text IS NULL OR timestamp <= ${s.to})`;
  return {
    async list(f) {
      return [
        ...(await sql<AuditRow[]>`
          SELECT ${sql.unsafe(COLUMNS)} FROM audit_log
           WHERE (${f.actor}::text IS NULL OR actor = ${f.actor}) AND (${f.action}::text IS NULL OR action = ${f.action}) AND ${span(f)}
           ORDER BY id DESC LIMIT ${f.limit}`),
      ];
    },
    async counts(s) {
      return sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
        const [[t], actions, outcomes] = await Promise.all([
          tx<{ total: number; actors: number; resources: number }[]>`
            SELECT count(*)::int AS total, count(DISTINCT actor)::int AS actors, count(DISTINCT resource)::int AS resources FROM audit_log WHERE ${span(s)}`,
          tx<{ k: string; n: number }[]>`SELECT action AS k, count(*)::int AS n FROM audit_log WHERE ${span(s)} GROUP BY action ORDER BY action`,
          tx<{ k: string; n: number }[]>`SELECT outcome AS k, count(*)::int AS n FROM audit_log WHERE ${span(s)} GROUP BY outcome ORDER BY outcome`,
        ]);
        return { ...t!, actions: [...actions], outcomes: [...outcomes] };
      });
    },
  };
}
