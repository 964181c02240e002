import { Webhook, WebhookCreateBody, WebhookListReply, WebhookTestReply } from '../../../schemas/http/webhooks.js';
import { fail } from '../../errors.js';
import { auditBy } from '../../http/actor.js';
import type { Ctx } from '../../http/context.js';
import { pathName } from '../../http/path.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import type { WebhookService } from './service.js';
import { DeletedReply } from '../../../schemas/http/common.js';
import { rule } from '../../http/permissions.js';

const idOf = (ctx: Ctx): string => pathName(ctx.params[0]!, 'id');

export function webhookRoutes(svc: WebhookService): Route[] {
  return [
    { method: 'GET', path: '/api/webhooks', summary: 'List webhooks', rule: rule('admin', 'list webhooks'), replies: { 200: WebhookListReply }, handler: async (ctx) => sendJson(ctx, 200, await svc.list()) },
    {
      method: 'POST',
      path: '/api/webhooks',
      summary: 'Create a webhook',
      rule: rule('admin', 'create webhooks'),
      replies: { 200: Webhook },
      body: 'json',
      schema: WebhookCreateBody,
      handler: async (ctx) => {
        const b = ctx.json as { id?: string | null; url?: string | null; patterns?: string[] | null; secret?: string | null };
        if (!b.id || !b.url) throw fail('FIELDS_REQUIRED', 'id', 'url');
        const w = await svc.create({ id: b.id, url: b.url, patterns: b.patterns ?? [], secret: b.secret ?? '' }, auditBy(ctx), requestIdem(ctx));
        sendJson(ctx, 200, w.webhook, replayHeaders(w.replayed));
      },
    },
    { method: 'DELETE', path: '/api/webhooks/:id', summary: 'Delete a webhook', rule: rule('admin', 'delete webhooks'), replies: { 200: DeletedReply }, handler: async (ctx) => sendJson(ctx, 200, await svc.delete(idOf(ctx), auditBy(ctx))) },
    { method: 'POST', path: '/api/webhooks/:id/test', summary: 'Send a webhook a test delivery', rule: rule('admin', 'test webhooks'), replies: { 200: WebhookTestReply }, handler: async (ctx) => sendJson(ctx, 200, await svc.test(idOf(ctx))) },
  ];
}
