import { failWith } from '../errors.js';
import type { Ctx } from '../http/context.js';
import { RATE_LIMIT_MAX_BUCKETS } from '../shared/limits-features.js';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A runaway agent cannot starve the others: each token (a created token by its id, an
 * agent by its instance) gets `perSecond` requests a second with bursts of `burst`, a token bucket
 * refilled continuously; past it, `429` with Retry-After. The operator (the server token, open
 * mode) is not limited unless `limitAdmin`. `perSecond` 0: off.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  limited = 0;

  constructor(private readonly opts: { perSecond: number; burst: number; limitAdmin: boolean }) {}

  get enabled(): boolean {
    return this.opts.perSecond > 0;
  }

  /** Throws the 429 when the caller is past its rate. */
  take(ctx: Pick<Ctx, 'principal' | 'identity'>, now = performance.now()): void {
    const { perSecond, burst } = this.opts;
    if (perSecond <= 0) return;
    const p = ctx.principal;
    if (p.role === 'admin' && !this.opts.limitAdmin && p.tokenId === null) return;
    const key = p.tokenId !== null ? `t:${p.tokenId}` : ctx.identity ? `i:${ctx.identity.instanceId}` : `r:${p.role}`;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= RATE_LIMIT_MAX_BUCKETS) this.forgetIdle(now);
      b = { tokens: burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    this.limited++;
    throw failWith('RATE_LIMITED', { detail: { retry_after: Math.max(1, Math.ceil((1 - b.tokens) / perSecond)) } }, perSecond);
  }

  /** Buckets full again (idle long enough) carry nothing worth keeping. */
  private forgetIdle(now: number): void {
    const full = (this.opts.burst / this.opts.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (now - b.at > full) this.buckets.delete(k);
    if (this.buckets.size >= RATE_LIMIT_MAX_BUCKETS) this.buckets.clear();
  }
}
