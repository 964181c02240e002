import { DeletedReply, Query } from '../../../schemas/http/common.js';
import { auditBy } from '../../http/actor.js';
import { Template, TemplateApplyBody, TemplateApplyReply, TemplateCreateBody, TemplateListReply } from '../../../schemas/http/templates.js';
import { fail } from '../../errors.js';
import type { Ctx } from '../../http/context.js';
import { pathName } from '../../http/path.js';
import { queryParams } from '../../http/query.js';
import { rawMember } from '../../raw-json.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import { sendJson, sendJsonText } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import type { TemplateService } from './service.js';
import { rule } from '../../http/permissions.js';

const idOf = (ctx: Ctx): string => pathName(ctx.params[0]!, 'id');

interface CreateBody {
  id?: string | null;
  name?: string | null;
  description?: string | null;
  kind?: string | null;
  tags?: string[] | null;
}

export function templateRoutes(svc: TemplateService): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/templates',
      summary: 'List templates',
      rule: rule('read', 'list templates'),
      replies: { 200: TemplateListReply },
      query: Query({ kind: 'Only the templates of this kind', tag: 'Only the templates with this tag' }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        // Any string is a usable kind or tag (the strict query checks have nothing to reject); '' = absent.
        const f = (k: string) => q.get(k) || null;
        sendJson(ctx, 200, await svc.list({ kind: f('kind'), tag: f('tag') }));
      },
    },
    {
      method: 'POST',
      path: '/api/templates',
      summary: 'Create a template',
      rule: rule('admin', 'create templates'),
      replies: { 200: Template },
      body: 'json',
      schema: TemplateCreateBody,
      handler: async (ctx) => {
        const b = ctx.json as CreateBody;
        if (!b.id || !b.name) throw fail('FIELDS_REQUIRED', 'id', 'name');
        // The value's own text, so it comes back exactly as sent; null counts as missing.
        const data = rawMember(ctx.text, 'data');
        if (data === undefined || data === 'null') throw fail('FIELD_REQUIRED', 'data');
        const w = await svc.create({ id: b.id, name: b.name, description: b.description ?? '', kind: b.kind || 'rules', data, tags: b.tags ?? [] }, auditBy(ctx), requestIdem(ctx));
        sendJsonText(ctx, 200, w.json, replayHeaders(w.replayed));
      },
    },
    {
      method: 'GET',
      path: '/api/templates/:id',
      summary: 'Read a template',
      rule: rule('read', 'read templates'),
      replies: { 200: Template },
      handler: async (ctx) => sendJsonText(ctx, 200, await svc.get(idOf(ctx))),
    },
    {
      method: 'DELETE',
      path: '/api/templates/:id',
      summary: 'Delete a template',
      rule: rule('admin', 'delete templates'),
      replies: { 200: DeletedReply },
      handler: async (ctx) => sendJson(ctx, 200, await svc.delete(idOf(ctx), auditBy(ctx))),
    },
    {
      method: 'POST',
      path: '/api/templates/:id/apply',
      summary: 'Apply a template to a project',
      rule: rule('admin', 'apply templates'),
      replies: { 200: TemplateApplyReply },
      body: 'json',
      schema: TemplateApplyBody,
      handler: async (ctx) => {
        const id = idOf(ctx);
        // Checked before the lookup.
        const project = (ctx.json as { project?: string | null }).project;
        if (!project) throw fail('FIELD_REQUIRED', 'project');
        sendJson(ctx, 200, await svc.apply(id, project, auditBy(ctx)));
      },
    },
  ];
}
