import { auditBy } from '../../http/actor.js';
import { fail } from '../../errors.js';
import type { Ctx } from '../../http/context.js';
import { sendJson, sendValue, sendWritten } from '../../http/reply.js';
import { type Route, STORED } from '../../http/route.js';
import { pathName } from '../../http/path.js';
import type { SpecService } from './service.js';
import { SpecDeletedReply, SpecListReply, SpecPutReply } from '../../../schemas/http/specs.js';
import { projectParam, rule } from '../../http/permissions.js';

const param = (ctx: Ctx, i: number): string => pathName(ctx.params[i]!, i === 0 ? 'project' : 'name');

export function specRoutes(svc: SpecService): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/specs/:project',
      summary: "List a project's specs",
      rule: rule('read', 'read specs', projectParam),
      replies: { 200: SpecListReply },
      handler: async (ctx) => {
        // The newest revision read before the list: a watch from it misses nothing the list does not show.
        const revision = await svc.newestRevision();
        sendJson(ctx, 200, await svc.list(param(ctx, 0)), [['X-Koor-Revision', String(revision)]]);
      },
    },
    {
      method: 'GET',
      path: '/api/specs/:project/:name',
      summary: 'Read a spec',
      rule: rule('read', 'read specs', projectParam),
      replies: { 200: STORED, 304: true },
      handler: async (ctx) => {
        const row = await svc.get(param(ctx, 0), param(ctx, 1));
        sendValue(ctx, row.data, 'application/json', `"${row.hash}"`, String(row.version), String(row.revision));
      },
    },
    {
      method: 'PUT',
      path: '/api/specs/:project/:name',
      summary: 'Write a spec',
      rule: rule('write', 'write specs', projectParam),
      replies: { 200: SpecPutReply },
      body: 'raw',
      handler: async (ctx) => {
        if (ctx.body.length === 0) throw fail('EMPTY_BODY');
        const r = await svc.put(param(ctx, 0), param(ctx, 1), ctx.body, {
          ifMatch: ctx.headers.ifMatch,
          ifNoneMatch: ctx.headers.ifNoneMatch,
        }, auditBy(ctx));
        sendWritten(ctx, r);
      },
    },
    {
      method: 'DELETE',
      path: '/api/specs/:project/:name',
      summary: 'Delete a spec',
      rule: rule('write', 'delete specs', projectParam),
      replies: { 200: SpecDeletedReply },
      handler: async (ctx) => sendJson(ctx, 200, await svc.delete(param(ctx, 0), param(ctx, 1), ctx.headers.ifMatch || undefined, auditBy(ctx))),
    },
  ];
}
