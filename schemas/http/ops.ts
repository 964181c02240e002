import { Type, type Static } from '../typebox.js';
import { Instant, PathViolation } from './common.js';
import { Str } from './rules.js';

/** POST /api/webhooks (SPEC §2.11). What is required (id, url) is the route's to say, in SPEC order. */
export const WebhookCreateBody = Type.Object({
  id: Str,
  url: Str,
  /** Absent, null or empty → `["*"]`; each a glob (SPEC §1.6). */
  patterns: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
  /** Write-only (SPEC §7-12): replies say `has_secret`. */
  secret: Str,
});

const Int = Type.Optional(Type.Union([Type.Integer(), Type.Null()]));

/** POST /api/llm/usage (SPEC §2.15): a record minus id and created_at; token counts are integers. */
export const LlmUsageBody = Type.Object({
  instance_id: Str,
  project: Str,
  provider: Str,
  model: Str,
  tokens_in: Int,
  tokens_out: Int,
  cost_usd: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
  /** Default `completion`. */
  request_type: Str,
  session_tag: Str,
});

/**
 * A webhook (SPEC §2.11 as amended by §7-12: `has_secret`, never the secret) and its delivery
 * state: matching events still to send, attempts delivered and failed, the last failure's reason.
 */
export const Webhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  patterns: Type.Array(Type.String()),
  active: Type.Boolean(),
  created_at: Instant,
  /** `0001-01-01T00:00:00Z` until a delivery succeeds. */
  last_fired: Instant,
  fail_count: Type.Integer(),
  has_secret: Type.Boolean(),
  pending: Type.Integer(),
  delivered: Type.Integer(),
  failed: Type.Integer(),
  last_error: Type.String(),
});
export type Webhook = Static<typeof Webhook>;
export const WebhookListReply = Type.Array(Webhook);

/** POST /api/webhooks/{id}/test: the receiver answered < 400. */
export const WebhookTestReply = Type.Object({ tested: Type.String(), status: Type.Literal('ok') });
export type WebhookTestReply = Static<typeof WebhookTestReply>;

/** POST /api/llm/usage. */
export const LlmRecordedReply = Type.Object({ id: Type.Integer(), recorded: Type.Literal(true) });
export type LlmRecordedReply = Static<typeof LlmRecordedReply>;

/** One LLM usage record (SPEC §2.15). */
export const LlmRecord = Type.Object({
  id: Type.Integer(),
  instance_id: Type.String(),
  project: Type.String(),
  provider: Type.String(),
  model: Type.String(),
  tokens_in: Type.Integer(),
  tokens_out: Type.Integer(),
  cost_usd: Type.Number(),
  request_type: Type.String(),
  session_tag: Type.String(),
  created_at: Instant,
});
export type LlmRecord = Static<typeof LlmRecord>;
export const LlmListReply = Type.Array(LlmRecord);

export const LlmSum = Type.Object({
  total_tokens_in: Type.Integer(),
  total_tokens_out: Type.Integer(),
  total_cost_usd: Type.Number(),
  request_count: Type.Integer(),
});
export type LlmSum = Static<typeof LlmSum>;

/** GET /api/llm/usage/summary: `from`/`to` echoed as given (`""` when absent). */
export const LlmSummaryReply = Type.Object({
  group_by: Type.String(),
  from: Type.String(),
  to: Type.String(),
  groups: Type.Record(Type.String(), LlmSum),
  total: LlmSum,
});
export type LlmSummaryReply = Static<typeof LlmSummaryReply>;

/** An audit entry (SPEC §2.13); `detail` is compact JSON text, not an object. */
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

/** A compliance run (SPEC §2.10): one (instance, contract) of one pass. */
export const ComplianceRun = Type.Object({
  id: Type.Integer(),
  instance_id: Type.String(),
  project: Type.String(),
  contract: Type.String(),
  pass: Type.Boolean(),
  violations: Type.Array(PathViolation),
  run_at: Instant,
});
export type ComplianceRun = Static<typeof ComplianceRun>;
export const ComplianceHistoryReply = Type.Array(ComplianceRun);

/** POST /api/compliance/run. */
export const ComplianceRunReply = Type.Object({ checked: Type.Literal(true), runs: ComplianceHistoryReply, count: Type.Integer() });
export type ComplianceRunReply = Static<typeof ComplianceRunReply>;
