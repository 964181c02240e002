import { createHash, type Hash } from 'node:crypto';
import type { IdemTag } from '../../schemas/rpc/envelope.js';
import { fail } from '../errors.js';
import { IDEMPOTENCY_KEY_MAX } from '../shared/limits-features.js';
import type { HeaderList } from './reply.js';
import type { Ctx } from './context.js';
import { HUMAN } from '../identity.js';


/** The reply header of a retry answered with the first write's result. */
export const REPLAYED: HeaderList = [['Idempotent-Replayed', 'true']];

/** The Idempotency-Key header, checked (1–255 visible ASCII characters), or null when absent. */
function keyOf(ctx: Ctx): string | null {
  const key = ctx.headers.idempotencyKey;
  if (key === '') return null;
  if (key.length > IDEMPOTENCY_KEY_MAX || !/^[\x21-\x7e]+$/.test(key)) throw fail('IDEMPOTENCY_KEY_INVALID', IDEMPOTENCY_KEY_MAX);
  return key;
}

const tag = (ctx: Ctx, key: string, hash: Hash): IdemTag => ({ caller: ctx.identity?.instanceId ?? HUMAN, key, hash: hash.digest('base64url') });

/**
 * The idempotency tag of a write, from the request's `Idempotency-Key` header (null when
 * it has none): keyed by the caller (its agent id, or `human`), with a hash of what the write asks
 * for, so the same key for another request is refused (workers/writer/idempotency.ts).
 */
export function idemTag(ctx: Ctx, req: unknown): IdemTag | null {
  const key = keyOf(ctx);
  return key === null ? null : tag(ctx, key, createHash('sha256').update(JSON.stringify(req)));
}

/**
 * The idempotency tag of a write whose request is the HTTP request itself (tasks,
 * claims, leases, registrations, proposals, budgets, tokens, txn, webhooks…): its hash covers the
 * method, the path and query, the headers the route reads and the body as sent, so a retry must
 * repeat the request byte for byte, and what the front adds to the write (an id, a secret, the
 * time) never makes a retry look like another request.
 */
export function requestIdem(ctx: Ctx): IdemTag | null {
  const key = keyOf(ctx);
  if (key === null) return null;
  const h = createHash('sha256').update(`${ctx.method} ${ctx.url}?${ctx.query}\n`);
  for (const [name, value] of Object.entries(ctx.extraHeaders)) h.update(`${name}: ${value}\n`);
  return tag(ctx, key, h.update(ctx.body));
}

/** The reply headers of a write that may have been a replay. */
export const replayHeaders = (replayed: boolean): HeaderList | undefined => (replayed ? REPLAYED : undefined);
