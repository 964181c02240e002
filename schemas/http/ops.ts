import { Type } from '../typebox.js';
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
