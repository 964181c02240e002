import type { Awaitable } from '../shared/awaitable.js';
import { ADMIN, type Ctx, type Identity, type Resolved } from '../http/context.js';
import { then } from '../shared/awaitable.js';
import { fail } from '../errors.js';

/**
 * Resolves an Authorization header that is not the server token (an instance token, a created
 * token): its agent and its rights, at once from the node's index, or a promise when a cluster
 * node asks the database about a miss.
 */
export type TokenResolver = (authorization: string) => Awaitable<Resolved | null>;
/** Resolves the X-Koor-Instance header to an agent identity. */
export type InstanceResolver = (instanceId: string) => Awaitable<Identity | null>;

/**
 * Bearer auth. The server token is compared in constant time against the
 * precomputed `Bearer <token>` (a header of another length is refused at once: that says only
 * that the length differs, which is no help in guessing the token): every character is looked
 * at, no early exit, no allocation. No hashing for the server token: a SHA-256 here was ~30 % of
 * a cached GET's CPU (an instance or created token is looked up by its SHA-256, remembered per
 * header: src/token-hash.ts). With no token set, every request passes.
 */
export class Authenticator {
  private readonly expected: string | null;
  private tokenResolver: TokenResolver | null = null;
  private instanceResolver: InstanceResolver | null = null;
  private onIdentified: ((id: Identity) => void) | null = null;

  constructor(token: string) {
    this.expected = token === '' ? null : `Bearer ${token}`;
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
    if (expected === null || authorization.length !== expected.length) return false;
    let diff = 0;
    for (let i = 0; i < expected.length; i++) diff |= authorization.charCodeAt(i) ^ expected.charCodeAt(i);
    return diff === 0;
  }

  /**
   * true if the request may proceed; sets ctx.identity when one is known. A promise only when an
   * identity had to be looked up (cluster mode, a token this node has not seen yet).
   */
  authorize(ctx: Ctx): boolean | Promise<boolean> {
    const auth = ctx.headers.authorization;
    if (this.expected === null || this.isServerToken(auth)) {
      ctx.principal = ADMIN;
      // An instance token in open mode still identifies its agent.
      const byToken = this.expected === null && auth !== '' && this.tokenResolver ? this.tokenResolver(auth) : null;
      return then(byToken, (r) => this.attribute(ctx, r?.identity ?? null));
    }
    // Not the server token: an instance's own token, or a created one.
    const r = auth !== '' && this.tokenResolver ? this.tokenResolver(auth) : null;
    return then(r, (found) => this.accept(ctx, found));
  }

  /** The operator (server token, or open mode): the agent by its token, else by X-Koor-Instance (honoured only here). */
  private attribute(ctx: Ctx, byToken: Identity | null): true | Promise<true> {
    const id = byToken ?? (ctx.headers.instance !== '' && this.instanceResolver ? this.instanceResolver(ctx.headers.instance) : null);
    return then(id, (found) => this.identify(ctx, found));
  }

  /**
   * A `self` route's agent `id` (the path's), for its rule (src/http/permissions.ts): looked up for
   * an agent token not already acting as it. A created token acts as the agents it registered
   * without naming one: acting as no agent, it acts as this one.
   */
  resolveSubject(ctx: Ctx, id: string | null): true | Promise<true> {
    if (ctx.principal.role !== 'agent' || id === null || id === '' || ctx.identity?.instanceId === id || !this.instanceResolver) return true;
    return then(this.instanceResolver(id), (found) => {
      ctx.subject = found;
      const { tokenId } = ctx.principal;
      if (ctx.identity === null && found !== null && tokenId !== null && found.tokenId === tokenId) this.identify(ctx, found);
      return true as const;
    });
  }

  private identify(ctx: Ctx, id: Identity | null): true {
    ctx.identity = id;
    if (id && this.onIdentified) this.onIdentified(id);
    return true;
  }

  /**
   * A token other than the server's: allowed when it is known. An instance token acts as the
   * agent it names, with its own rights (X-Koor-Instance is not honoured: it already names its
   * agent). A created token names no agent; with X-Koor-Instance it acts as the one named — any
   * agent for an admin token, for an agent token only one it registered ("may register
   * instances and act as them"); naming another is refused, never silently ignored.
   */
  private accept(ctx: Ctx, r: Resolved | null): boolean | Promise<boolean> {
    if (r === null) return false;
    ctx.principal = r.principal;
    const { role, tokenId } = r.principal;
    if (tokenId === null || ctx.headers.instance === '' || role === 'reader' || !this.instanceResolver) return this.identify(ctx, r.identity);
    return then(this.instanceResolver(ctx.headers.instance), (found) => {
      if (role !== 'admin' && (found === null || found.tokenId !== tokenId)) throw fail('NOT_OWN_AGENT', role, found?.name ?? ctx.headers.instance);
      return this.identify(ctx, found);
    });
  }
}
