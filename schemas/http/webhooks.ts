import { Type, type Static } from '../typebox.js';
import { WEBHOOK } from '../db/tables/webhooks.js';
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
 * A webhook (schemas/db/tables/webhooks.ts; `has_secret`, never the secret) and its delivery
 * state: attempts delivered and failed, the last failure's reason, matching events still to send.
 */
export const Webhook = Type.Object({
  ...WEBHOOK.Wire.properties,
  has_secret: Type.Boolean(),
  /** Matching events after its cursor (0 while it is inactive). */
  pending: Type.Integer(),
});

export type Webhook = Static<typeof Webhook>;

export const WebhookListReply = Type.Array(Webhook);

/** POST /api/webhooks/{id}/test: the receiver answered < 400. */
export const WebhookTestReply = Type.Object({ tested: Type.String(), status: Type.Literal('ok') });

export type WebhookTestReply = Static<typeof WebhookTestReply>;
