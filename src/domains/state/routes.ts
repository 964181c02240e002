import { badRequest, notFound } from '../../errors.js';
import type { Ctx } from '../../http/context.js';
import { send, sendJson, sendVersioned, sendWritten } from '../../http/reply.js';
import { parseIntStrict, queryParams, type Route } from '../../http/router.js';
import type { StateService } from './service.js';

const PREFIX = '/api/state/';
const DEFAULT_HISTORY_LIMIT = 50;

/** `{key...}`: the rest of the path, URL-decoded, slashes allowed. */
function keyOf(ctx: Ctx): string {
  let key: string;
  try {
    key = decodeURIComponent(ctx.url.slice(PREFIX.length));
  } catch {
    throw badRequest('invalid URL encoding in key');
  }
  if (key === '') throw badRequest('key is required');
  return key;
}

/** Identity of the writer for `updated_by`: the agent's name when known, else "". */
const actor = (ctx: Ctx): string => ctx.identity?.name ?? '';

export function stateRoutes(svc: StateService): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/state',
      handler: (ctx) => sendJson(ctx, 200, svc.list()),
    },
    {
      method: 'GET',
      path: '/api/state/*',
      handler: (ctx) => {
        const key = keyOf(ctx);
        if (ctx.query !== '') {
          const q = queryParams(ctx);
          if (q.get('history')) {
            const limit = parseIntStrict(q.get('limit') ?? '') ?? 0;
            return sendJson(ctx, 200, { key, versions: svc.history(key, limit > 0 ? limit : DEFAULT_HISTORY_LIMIT) });
          }
          if (q.has('diff')) return diff(ctx, svc, key, q.get('diff')!);
          if (q.has('version')) {
            const v = parseIntStrict(q.get('version')!);
            if (v === null) throw badRequest('version must be an integer');
            const row = svc.atVersion(key, v);
            if (!row) throw notFound(`version ${v} not found for key: ${key}`);
            return send(ctx, 200, row.value, row.content_type, [['X-Koor-Version', String(row.version)]]);
          }
        }
        const cur = svc.current(key);
        if (!cur) throw notFound(`key not found: ${key}`);
        sendVersioned(ctx, cur.value, cur.contentType, cur.etag, cur.versionText);
      },
    },
    {
      method: 'PUT',
      path: '/api/state/*',
      body: 'raw',
      handler: async (ctx) => {
        const key = keyOf(ctx);
        if (ctx.body.length === 0) throw badRequest('empty body');
        const r = await svc.put({
          key,
          value: ctx.body,
          contentType: ctx.headers.contentType || 'application/json',
          updatedBy: actor(ctx),
          ifMatch: ctx.headers.ifMatch,
          ifNoneMatch: ctx.headers.ifNoneMatch,
        });
        sendWritten(ctx, r);
      },
    },
    {
      method: 'POST',
      path: '/api/state/*',
      body: 'raw',
      handler: async (ctx) => {
        const key = keyOf(ctx);
        const raw = queryParams(ctx).get('rollback');
        if (raw === null || raw === '') throw badRequest('rollback requires ?rollback=<version>');
        const v = parseIntStrict(raw);
        if (v === null) throw badRequest('rollback version must be an integer');
        const r = await svc.rollback(key, v);
        sendWritten(ctx, r);
      },
    },
    {
      method: 'DELETE',
      path: '/api/state/*',
      handler: async (ctx) => {
        const key = keyOf(ctx);
        sendJson(ctx, 200, await svc.delete(key, ctx.headers.ifMatch || undefined));
      },
    },
  ];
}

async function diff(ctx: Ctx, svc: StateService, key: string, spec: string): Promise<void> {
  const comma = spec.indexOf(',');
  if (comma < 0) throw badRequest('diff requires two versions: ?diff=v1,v2');
  const v1 = parseIntStrict(spec.slice(0, comma).trim());
  const v2 = parseIntStrict(spec.slice(comma + 1).trim());
  if (v1 === null || v2 === null) throw badRequest('diff versions must be integers');
  send(ctx, 200, `${await svc.diff(key, v1, v2)}\n`, 'application/json');
}
