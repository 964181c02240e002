import { timingSafeEqual } from 'node:crypto';
import type { Ctx, Identity } from './context.js';

/** Resolves an Authorization header that is not the server token (e.g. an instance token). */
export type TokenResolver = (authorization: string) => Identity | null;
/** Resolves the X-Koor-Instance header to an agent identity. */
export type InstanceResolver = (instanceId: string) => Identity | null;

/**
 * Bearer auth (SPEC §1.2, §8.4). The server token is compared in constant time against the
 * precomputed `Bearer <token>` bytes (a header of another length is refused at once: that says
 * only that the length differs, which is no help in guessing the token). No hashing per request:
 * a SHA-256 here was ~30 % of a cached GET's CPU. With no token set, every request passes.
 */
export class Authenticator {
  private readonly expected: Buffer | null;
  private tokenResolver: TokenResolver | null = null;
  private instanceResolver: InstanceResolver | null = null;
  private onIdentified: ((id: Identity) => void) | null = null;

  constructor(token: string) {
    this.expected = token === '' ? null : Buffer.from(`Bearer ${token}`);
  }

  get enabled(): boolean {
    return this.expected !== null;
  }

  /** Lets the agents layer accept instance tokens, attribute requests and see who is active. */
  setResolvers(tokens: TokenResolver | null, instances: InstanceResolver | null, onIdentified: ((id: Identity) => void) | null = null): void {
    this.tokenResolver = tokens;
    this.instanceResolver = instances;
    this.onIdentified = onIdentified;
  }

  isServerToken(authorization: string): boolean {
    const expected = this.expected;
    if (expected === null || Buffer.byteLength(authorization) !== expected.length) return false;
    return timingSafeEqual(Buffer.from(authorization), expected);
  }

  /** true if the request may proceed; sets ctx.identity when one is known. */
  authorize(ctx: Ctx): boolean {
    const auth = ctx.headers.authorization;
    if (this.expected === null || this.isServerToken(auth)) {
      // An instance token in open mode still identifies its agent.
      const byToken = this.expected === null && auth !== '' && this.tokenResolver ? this.tokenResolver(auth) : null;
      ctx.identity = byToken ?? (ctx.headers.instance !== '' && this.instanceResolver ? this.instanceResolver(ctx.headers.instance) : null);
      if (ctx.identity && this.onIdentified) this.onIdentified(ctx.identity);
      return true;
    }
    // Not the server token: an instance's own token is accepted besides it (SPEC §8.4).
    const id = auth !== '' && this.tokenResolver ? this.tokenResolver(auth) : null;
    if (id === null) return false;
    ctx.identity = id;
    this.onIdentified?.(id);
    return true;
  }
}
