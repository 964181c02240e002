import { Type, type Static } from '../typebox.js';
import { Instant } from './common.js';

/** An audit entry; `detail` is compact JSON text, not an object. */
export const AuditEntry = Type.Object({
  id: Type.Integer(),
  timestamp: Instant,
  actor: Type.String(),
  action: Type.String(),
  resource: Type.String(),
  detail: Type.String(),
  outcome: Type.String(),
});

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
