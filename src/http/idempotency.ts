import { createHash } from 'node:crypto';
import type { IdemTag } from '../../schemas/rpc/envelope.js';
import { fail } from '../errors.js';
import { IDEMPOTENCY_KEY_MAX } from '../shared/limits.js';
import type { HeaderList } from './reply.js';
import type { Ctx } from './context.js';

/** Who writes without an agent identity: the operator (the server token, or open mode). */
export const HUMAN = 'human';

/** The reply header of a retry answered with the first write's result. */
export const REPLAYED: HeaderList = [['Idempotent-Replayed', 'true']];

/**
 * The idempotency tag of a write (issue 28), from the request's `Idempotency-Key` header (null when
 * it has none): keyed by the caller (its agent id, or `human`), with a hash of what the write asks
 * for, so the same key for another request is refused (workers/writer/idempotency.ts). A key is
 * 1–255 visible ASCII characters.
 */
export function idemTag(ctx: Ctx, req: unknown): IdemTag | null {
  const key = ctx.headers.idempotencyKey;
  if (key === '') return null;
  if (key.length > IDEMPOTENCY_KEY_MAX || !/^[\x21-\x7e]+$/.test(key)) throw fail('IDEMPOTENCY_KEY_INVALID', IDEMPOTENCY_KEY_MAX);
  return { caller: ctx.identity?.instanceId ?? HUMAN, key, hash: createHash('sha256').update(JSON.stringify(req)).digest('base64url') };
}
