import { badRequest } from '../../errors.js';
import type { Ctx } from '../../http/context.js';
import { send, sendJson } from '../../http/reply.js';
import type { Route } from '../../http/router.js';
import type { SpecService } from './service.js';

function param(ctx: Ctx, i: number): string {
  try {
    return decodeURIComponent(ctx.params[i]!);
  } catch {
    throw badRequest('invalid URL encoding in path');
  }
}

export function specRoutes(svc: SpecService): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/specs/:project',
      handler: (ctx) => sendJson(ctx, 200, svc.list(param(ctx, 0))),
    },
    {
      method: 'GET',
      path: '/api/specs/:project/:name',
      handler: (ctx) => {
        const row = svc.get(param(ctx, 0), param(ctx, 1));
        const etag = `"${row.hash}"`;
        if (ctx.headers.ifNoneMatch === etag) return send(ctx, 304, '', null, [['ETag', etag]]);
        send(ctx, 200, row.data, 'application/json', [
          ['ETag', etag],
          ['X-Koor-Version', String(row.version)],
        ]);
      },
    },
    {
      method: 'PUT',
      path: '/api/specs/:project/:name',
      body: 'raw',
      handler: async (ctx) => {
        if (ctx.body.length === 0) throw badRequest('empty body');
        const r = await svc.put(param(ctx, 0), param(ctx, 1), ctx.body, {
          ifMatch: ctx.headers.ifMatch,
          ifNoneMatch: ctx.headers.ifNoneMatch,
        });
        sendJson(ctx, 200, r, [
          ['ETag', `"${r.hash}"`],
          ['X-Koor-Version', String(r.version)],
        ]);
      },
    },
    {
      method: 'DELETE',
      path: '/api/specs/:project/:name',
      handler: async (ctx) => sendJson(ctx, 200, await svc.delete(param(ctx, 0), param(ctx, 1), ctx.headers.ifMatch || undefined)),
    },
  ];
}
