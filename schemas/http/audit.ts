import { Type, type Static } from '../typebox.js';
import { AUDIT } from '../db/tables/audit.js';

/** An audit entry (schemas/db/tables/audit.ts); `detail` is compact JSON text, not an object. */
export const AuditEntry = AUDIT.Wire;
export type AuditEntry = Static<typeof AuditEntry>;

export const AuditListReply = Type.Array(AuditEntry);

/** GET /api/audit/summary. */
export const AuditSummaryReply = Type.Object({
  total_entries: Type.Integer(),
  action_counts: Type.Record(Type.String(), Type.Integer()),
  outcome_counts: Type.Record(Type.String(), Type.Integer()),
  unique_actors: Type.Integer(),
  unique_resources: Type.Integer(),
});

export type AuditSummaryReply = Static<typeof AuditSummaryReply>;
