import { AUDIT } from '../../../schemas/db/tables/audit.js';
import type { AuditEntry } from '../../../schemas/http/audit.js';
import type { AuditFilter, AuditReader, Span } from './reader.js';

/**
 * The audit log's reads. Entries are written by the writer in the savepoint of the
 * mutation they describe (an envelope's `audit` tag), never here.
 */
export class AuditService {
  constructor(private readonly reader: AuditReader) {}

  /** Newest first; `actor` and `action` exact. */
  async list(f: AuditFilter): Promise<AuditEntry[]> {
    return (await this.reader.list(f)).map(AUDIT.wire);
  }

  async summary(span: Span) {
    const c = await this.reader.counts(span);
    const counts = (rows: { k: string; n: number }[]) => Object.fromEntries(rows.map((r) => [r.k, r.n]));
    return {
      total_entries: c.total,
      action_counts: counts(c.actions),
      outcome_counts: counts(c.outcomes),
      // "" counts as an actor.
      unique_actors: c.actors,
      unique_resources: c.resources,
    };
  }
}
