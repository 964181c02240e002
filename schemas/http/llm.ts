import { Type, type Static, type TSchema } from '../typebox.js';
import { Instant } from './common.js';
import { Str } from './rules.js';
import { LLM } from '../db/tables/llm.js';

/** A token count or a cost: never negative (a negative one would un-charge a budget). */
const Count = Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]));

/** A provider's own usage object: Anthropic's and OpenAI's members, others ignored. */
export const ProviderUsage = Type.Object({
  input_tokens: Count,
  output_tokens: Count,
  cache_creation_input_tokens: Count,
  cache_read_input_tokens: Count,
  prompt_tokens: Count,
  completion_tokens: Count,
  prompt_tokens_details: Type.Optional(Type.Union([Type.Object({ cached_tokens: Count }), Type.Null()])),
});

/**
 * POST /api/llm/usage: a record minus id and created_at; token counts are integers.
 * Or the provider's `usage` object as it came, with cache tokens; cost_usd absent →
 * priced from the price table (unknown model: the cost is unknown, not 0).
 */
export const LlmUsageBody = Type.Object({
  instance_id: Str,
  project: Str,
  provider: Str,
  model: Str,
  tokens_in: Count,
  tokens_out: Count,
  cache_creation_tokens: Count,
  cache_read_tokens: Count,
  cost_usd: Type.Optional(Type.Union([Type.Number({ minimum: 0 }), Type.Null()])),
  /** Default `completion`. */
  request_type: Str,
  session_tag: Str,
  usage: Type.Optional(Type.Union([ProviderUsage, Type.Null()])),
});

/** PUT /api/budgets/{scope}: a cap in dollars, in tokens, or both. */
export const BudgetBody = Type.Object({
  usd: Type.Optional(Type.Union([Type.Number({ minimum: 0 }), Type.Null()])),
  tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
  period: Type.Optional(Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month'), Type.Literal('total'), Type.Null()])),
  warn_at: Type.Optional(Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: 1 }), Type.Null()])),
});

/** POST /api/llm/usage; `cost_usd` as recorded, null when unknown, and where it came from. */
export const LlmRecordedReply = Type.Object({
  id: Type.Integer(),
  recorded: Type.Literal(true),
  cost_usd: Type.Union([Type.Number(), Type.Null()]),
  cost_source: Type.Union([Type.Literal('reported'), Type.Literal('priced'), Type.Literal('unknown')]),
});
export type LlmRecordedReply = Static<typeof LlmRecordedReply>;

/** One LLM usage record (schemas/db/tables/llm.ts): cache tokens, cost (null: no price was known), its source and coding-agent session. */
export const LlmRecord = LLM.Wire;
export type LlmRecord = Static<typeof LlmRecord>;
export const LlmListReply = Type.Array(LlmRecord);

/**
 * OTLP/HTTP JSON bodies, opentelemetry-proto's JSON mapping: the members Koor reads are
 * checked for their types; every other member, known to OTLP or not, is let through (a receiver
 * must ignore what it does not know). As in proto3's JSON mapping, any member may be null (its
 * default), and a 64-bit integer comes as a number or a decimal string.
 */
const Nullable = <T extends TSchema>(s: T) => Type.Optional(Type.Union([s, Type.Null()]));
/** The string branch first: a string that is no number is told so, not "expected integer". */
const Int64 = Type.Union([Type.String({ pattern: '^-?[0-9]+$' }), Type.Integer()]);
const Uint64 = Type.Union([Type.String({ pattern: '^[0-9]+$' }), Type.Integer({ minimum: 0 })]);
const Double = Type.Union([Type.String({ pattern: '^(?:-?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?|NaN|-?Infinity)$' }), Type.Number()]);
/** An attribute's value; arrayValue, kvlistValue and bytesValue are not read. */
const OtlpAnyValue = Type.Object({ stringValue: Nullable(Type.String()), intValue: Nullable(Int64), doubleValue: Nullable(Double), boolValue: Nullable(Type.Boolean()) });
const OtlpAttributes = Nullable(Type.Array(Type.Object({ key: Nullable(Type.String()), value: Nullable(OtlpAnyValue) })));
const OtlpLogRecord = Type.Object({ timeUnixNano: Nullable(Uint64), body: Nullable(OtlpAnyValue), attributes: OtlpAttributes });

/** POST /v1/logs: an ExportLogsServiceRequest; src/domains/llm/otlp.ts reads it. */
export const OtlpLogsBody = Type.Object({
  resourceLogs: Nullable(
    Type.Array(
      Type.Object({
        resource: Nullable(Type.Object({ attributes: OtlpAttributes })),
        scopeLogs: Nullable(Type.Array(Type.Object({ logRecords: Nullable(Type.Array(OtlpLogRecord)) }))),
      }),
    ),
  ),
});

const OtlpSpan = Type.Object({ spanId: Nullable(Type.String()), name: Nullable(Type.String()), endTimeUnixNano: Nullable(Uint64), attributes: OtlpAttributes });

/** POST /v1/traces: an ExportTraceServiceRequest; src/domains/llm/otlp.ts reads its model-request spans. */
export const OtlpTracesBody = Type.Object({
  resourceSpans: Nullable(
    Type.Array(
      Type.Object({
        resource: Nullable(Type.Object({ attributes: OtlpAttributes })),
        scopeSpans: Nullable(Type.Array(Type.Object({ spans: Nullable(Type.Array(OtlpSpan)) }))),
      }),
    ),
  ),
});

/** POST /v1/metrics: an ExportMetricsServiceRequest, accepted and not kept (nothing below its resources is read). */
export const OtlpMetricsBody = Type.Object({ resourceMetrics: Nullable(Type.Array(Type.Object({}))) });

/** POST /v1/logs, /v1/traces, /v1/metrics: OTLP/HTTP's reply, with what Koor made of the export. */
export const OtlpReply = Type.Object({
  /** OTLP/HTTP's partial success: empty when all was taken, else how many records (logs) or spans (traces) were refused and why. */
  partialSuccess: Type.Object({ rejectedLogRecords: Type.Optional(Type.Integer()), rejectedSpans: Type.Optional(Type.Integer()), errorMessage: Type.Optional(Type.String()) }),
  recorded: Type.Integer(),
  duplicates: Type.Integer(),
});

/** A budget and its period's spend (GET /api/budgets). */
export const Budget = Type.Object({
  scope: Type.String(),
  usd: Type.Union([Type.Number(), Type.Null()]),
  tokens: Type.Union([Type.Integer(), Type.Null()]),
  period: Type.String(),
  /** The current period's key (`2026-11-24`, `week-2026-11-23`, `2026-11`, `total`). */
  period_key: Type.String(),
  warn_at: Type.Number(),
  spent_usd: Type.Number(),
  spent_tokens: Type.Integer(),
  /** Records in the period whose cost is unknown (no price): spent_usd leaves them out. */
  unpriced: Type.Integer(),
  /** The larger of spent/cap of the two caps. */
  fill: Type.Number(),
  status: Type.Union([Type.Literal('ok'), Type.Literal('warning'), Type.Literal('exceeded')]),
  updated_at: Instant,
});
export type Budget = Static<typeof Budget>;
export const BudgetListReply = Type.Array(Budget);
export const BudgetDeletedReply = Type.Object({ deleted: Type.String() });

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
