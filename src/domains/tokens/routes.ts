import { TokenCreateBody } from '../../../schemas/http/tokens.js';
import { fail } from '../../errors.js';
import { auditBy } from '../../http/actor.js';
import type { Ctx } from '../../http/context.js';
import { pathName } from '../../http/path.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/router.js';
import type { TokenService } from './service.js';

/**
 * Only an admin manages tokens. Until the permission table beside the router (issue 30) says who
 * may do what, these routes check it themselves; that check moves there.
 */
const adminOnly = (ctx: Ctx): void => {
  if (ctx.principal.role !== 'admin') throw fail('TOKENS_ADMIN_ONLY', ctx.principal.role);
};

export function tokenRoutes(svc: TokenService): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/tokens',
      body: 'json',
      schema: TokenCreateBody,
      handler: async (ctx) => {
        adminOnly(ctx);
        const b = ctx.json as { name?: string | null; role?: string | null; scopes?: string[] | null; ttl?: string | number | null };
        if (!b.name || !b.role) throw fail('FIELDS_REQUIRED', 'name', 'role');
        sendJson(ctx, 200, await svc.create({ name: b.name, role: b.role, scopes: b.scopes ?? [], ttl: b.ttl }, auditBy(ctx)));
      },
    },
    {
      method: 'GET',
      path: '/api/tokens',
      handler: async (ctx) => {
        adminOnly(ctx);
        sendJson(ctx, 200, await svc.list());
      },
    },
    {
      method: 'DELETE',
      path: '/api/tokens/:id',
      handler: async (ctx) => {
        adminOnly(ctx);
        sendJson(ctx, 200, await svc.revoke(pathName(ctx.params[0]!, 'id'), auditBy(ctx)));
      },
    },
  ];
}
