import { TokenCreateBody, TokenCreatedReply, TokenListReply, TokenRevokedReply } from '../../../schemas/http/tokens.js';
import { fail } from '../../errors.js';
import { auditBy } from '../../http/actor.js';
import { pathName } from '../../http/path.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import type { TokenService } from './service.js';
import { rule } from '../../http/permissions.js';

/** Tokens; only an admin manages them (src/http/permissions.ts). */
export function tokenRoutes(svc: TokenService): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/tokens',
      summary: 'Create a token',
      rule: rule('admin', 'manage tokens'),
      replies: { 200: TokenCreatedReply },
      body: 'json',
      schema: TokenCreateBody,
      handler: async (ctx) => {
        const b = ctx.json as { name?: string | null; role?: string | null; scopes?: string[] | null; ttl?: string | number | null };
        if (!b.name || !b.role) throw fail('FIELDS_REQUIRED', 'name', 'role');
        const w = await svc.create({ name: b.name, role: b.role, scopes: b.scopes ?? [], ttl: b.ttl }, auditBy(ctx), requestIdem(ctx));
        sendJson(ctx, 200, w.token, replayHeaders(w.replayed));
      },
    },
    {
      method: 'GET',
      path: '/api/tokens',
      summary: 'List tokens',
      rule: rule('admin', 'manage tokens'),
      replies: { 200: TokenListReply },
      handler: async (ctx) => {
        sendJson(ctx, 200, await svc.list());
      },
    },
    {
      method: 'DELETE',
      path: '/api/tokens/:id',
      summary: 'Revoke a token',
      rule: rule('admin', 'manage tokens'),
      replies: { 200: TokenRevokedReply },
      handler: async (ctx) => {
        sendJson(ctx, 200, await svc.revoke(pathName(ctx.params[0]!, 'id'), auditBy(ctx)));
      },
    },
  ];
}
