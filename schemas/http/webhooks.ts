import { Type, type Static } from '../typebox.js';
import { Instant } from './common.js';
import { Str } from './rules.js';

/** POST /api/webhooks. What is required (id, url) is the route's to say, in the original's order and words. */
export const WebhookCreateBody = Type.Object({
  id: Str,
  url: Str,
  /** Absent, null or empty → `["*"]`; each a glob. */
  patterns: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
  /** Write-only: replies say `has_secret`. */
  secret: Str,
});

/**
 * A webhook (`has_secret`, never the secret) and its delivery
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
