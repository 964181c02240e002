import { toRfc3339, type ReadDb } from '../../store.js';

export interface AuditEntry {
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

const SPAN = '(@from IS NULL OR timestamp >= @from) AND (@to IS NULL OR timestamp <= @to)';

/**
 * The audit log's reads (SPEC §2.13). Entries are written by the writer in the savepoint of the
 * mutation they describe (an envelope's `audit` tag), never here.
 */
export class AuditService {
  private readonly q;

  constructor(db: ReadDb) {
    this.q = {
      list: db.prepare<[Span & { actor: string | null; action: string | null; limit: number }], AuditEntry>(
        `SELECT id, timestamp, actor, action, resource, detail, outcome FROM audit_log
         WHERE (@actor IS NULL OR actor = @actor) AND (@action IS NULL OR action = @action) AND ${SPAN}
         ORDER BY id DESC LIMIT @limit`,
      ),
      totals: db.prepare<[Span], { total: number; actors: number; resources: number }>(
        `SELECT count(*) AS total, count(DISTINCT actor) AS actors, count(DISTINCT resource) AS resources FROM audit_log WHERE ${SPAN}`,
      ),
      byAction: db.prepare<[Span], { k: string; n: number }>(`SELECT action AS k, count(*) AS n FROM audit_log WHERE ${SPAN} GROUP BY action ORDER BY action`),
      byOutcome: db.prepare<[Span], { k: string; n: number }>(`SELECT outcome AS k, count(*) AS n FROM audit_log WHERE ${SPAN} GROUP BY outcome ORDER BY outcome`),
    };
  }

  /** Newest first; `actor` and `action` exact. */
  list(f: Span & { actor: string | null; action: string | null; limit: number }): AuditEntry[] {
    return this.q.list.all(f).map((e) => ({ ...e, timestamp: toRfc3339(e.timestamp) }));
  }

  summary(span: Span) {
    const t = this.q.totals.get(span)!;
    const counts = (rows: { k: string; n: number }[]) => Object.fromEntries(rows.map((r) => [r.k, r.n]));
    return {
      total_entries: t.total,
      action_counts: counts(this.q.byAction.all(span)),
      outcome_counts: counts(this.q.byOutcome.all(span)),
      // "" counts as an actor (SPEC §2.13).
      unique_actors: t.actors,
      unique_resources: t.resources,
    };
  }
}
