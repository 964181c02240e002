import { WebhookCreateBody } from '../../../schemas/http/ops.js';
import { fail } from '../../errors.js';
import { auditBy } from '../../http/actor.js';
import type { Ctx } from '../../http/context.js';
import { pathName } from '../../http/path.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/router.js';
import type { WebhookService } from './service.js';

const idOf = (ctx: Ctx): string => pathName(ctx.params[0]!, 'id');

export function webhookRoutes(svc: WebhookService): Route[] {
  return [
    { method: 'GET', path: '/api/webhooks', handler: async (ctx) => sendJson(ctx, 200, await svc.list()) },
    {
      method: 'POST',
      path: '/api/webhooks',
      body: 'json',
      schema: WebhookCreateBody,
      handler: async (ctx) => {
        const b = ctx.json as { id?: string | null; url?: string | null; patterns?: string[] | null; secret?: string | null };
        if (!b.id || !b.url) throw fail('FIELDS_REQUIRED', 'id', 'url');
        const w = await svc.create({ id: b.id, url: b.url, patterns: b.patterns ?? [], secret: b.secret ?? '' }, auditBy(ctx), requestIdem(ctx));
        sendJson(ctx, 200, w.webhook, replayHeaders(w.replayed));
      },
    },
    { method: 'DELETE', path: '/api/webhooks/:id', handler: async (ctx) => sendJson(ctx, 200, await svc.delete(idOf(ctx), auditBy(ctx))) },
    { method: 'POST', path: '/api/webhooks/:id/test', handler: async (ctx) => sendJson(ctx, 200, await svc.test(idOf(ctx))) },
  ];
}
