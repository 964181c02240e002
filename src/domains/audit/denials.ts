import type { Identity, Principal, Role } from '../../identity.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { sortedJson } from '../../../schemas/rpc/envelope.js';
import { DENIED_AUDITS_PER_S } from '../../shared/limits-features.js';

/**
 * Calls a route's or tool's rule refused: every one counted by role, and audited
 * (`auth.denied`, outcome `denied`, the caller's agent or role as actor, the route as resource) up
 * to DENIED_AUDITS_PER_S a second; beyond that only counted (the count says how many went unaudited).
 */
export class Denials {
  readonly counts: Record<Role, number> = { admin: 0, agent: 0, reader: 0 };
  unaudited = 0;
  private second = 0;
  private inSecond = 0;

  constructor(
    private readonly writer: WriterClient,
    private readonly log: Logger,
  ) {}

  /** The router's and the MCP gateway's hook: who called (a request context will do), the refusing rule (its `action`), the route. */
  readonly record = (ctx: { readonly principal: Principal; readonly identity: Identity | null }, rule: { readonly action: string }, route: string): void => {
    const role = ctx.principal.role;
    this.counts[role]++;
    const now = Math.floor(Date.now() / 1000);
    if (now !== this.second) {
      this.second = now;
      this.inSecond = 0;
    }
    if (++this.inSecond > DENIED_AUDITS_PER_S) {
      this.unaudited++;
      return;
    }
    const actor = ctx.identity?.name ?? (ctx.principal.tokenId ? `token:${ctx.principal.tokenId}` : role);
    const detail = sortedJson({ role, action: rule.action, ...(ctx.principal.tokenId ? { token_id: ctx.principal.tokenId } : {}) });
    this.writer.call('audit.denied', { actor, resource: route, detail }).catch((err: unknown) => this.log.warn({ err, route }, 'refusal not audited'));
  };
}
