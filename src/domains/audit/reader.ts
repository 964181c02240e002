import { then, type Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { sql } from '../../../schemas/db/sql.js';
import { AUDIT } from '../../../schemas/db/tables/audit.js';
import type { Static } from '../../../schemas/typebox.js';

/** An audit entry as stored: `timestamp` is storage text. */
export type AuditRow = Static<typeof AUDIT.Row>;

/** Bounds as storage text (inclusive), compared as instants. */
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

const COLUMNS = AUDIT.columns;
/** Parameters: from ×2, to ×2. */
const SPAN = '(CAST(? AS text) IS NULL OR timestamp >= ?) AND (CAST(? AS text) IS NULL OR timestamp <= ?)';
const LIST = sql(`SELECT ${COLUMNS} FROM audit_log WHERE (CAST(? AS text) IS NULL OR actor = ?) AND (CAST(? AS text) IS NULL OR action = ?) AND ${SPAN} ORDER BY id DESC LIMIT CAST(? AS bigint)`);
const TOTALS = sql(`SELECT count(*) AS total, count(DISTINCT actor) AS actors, count(DISTINCT resource) AS resources FROM audit_log WHERE ${SPAN}`);
const BY_ACTION = sql(`SELECT action AS k, count(*) AS n FROM audit_log WHERE ${SPAN} GROUP BY action ORDER BY action`);
const BY_OUTCOME = sql(`SELECT outcome AS k, count(*) AS n FROM audit_log WHERE ${SPAN} GROUP BY outcome ORDER BY outcome`);

const span = (s: Span) => [s.from, s.from, s.to, s.to];

/** The audit log's reads, on either backend; the counts read one snapshot (`db.consistent`). */
export function auditReader(db: Reads): AuditReader {
  const list = db.statement<AuditRow>(LIST);
  const totals = db.statement<{ total: number; actors: number; resources: number }>(TOTALS);
  const byAction = db.statement<{ k: string; n: number }>(BY_ACTION);
  const byOutcome = db.statement<{ k: string; n: number }>(BY_OUTCOME);
  return {
    list: (f) => list.all(f.actor, f.actor, f.action, f.action, ...span(f), f.limit),
    counts: (s) =>
      db.consistent(() => {
        const t = totals.get(...span(s));
        const a = byAction.all(...span(s));
        const o = byOutcome.all(...span(s));
        return then(t, (totals) => then(a, (actions) => then(o, (outcomes) => ({ ...totals!, actions, outcomes }))));
      }),
  };
}
