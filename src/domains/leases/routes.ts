import { Fenced, PositiveInt, Query } from '../../../schemas/http/common.js';
import { CheckBody, Lease, LeaseBody, LeaseCheckReply, LeaseListReply, LeaseReleasedReply, RenewBody } from '../../../schemas/http/leases.js';
import { fail } from '../../errors.js';
import { auditBy } from '../../http/actor.js';
import type { Ctx } from '../../http/context.js';
import { queryValue, rule, strings } from '../../http/permissions.js';
import { permitTargets, type Target } from '../../access.js';
import { pathName } from '../../http/path.js';
import { checkName } from '../../names.js';
import { positiveInt, queryParams, fenceParam } from '../../http/query.js';
import { sendJson } from '../../http/reply.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import type { Route } from '../../http/route.js';
import { COORD_LIST_DEFAULT_LIMIT, COORD_LIST_MAX_LIMIT, LEASE_CHECK_MAX_PATHS } from '../../shared/limits-features.js';
import { ttlParam, type LeaseService } from './service.js';

/** The files a lease body names (none: the handler says what is missing). */
const leaseBody = (field: string) => ({ from: 'body', target: (ctx: Ctx): Target[] => strings((ctx.json as Record<string, unknown> | undefined)?.[field]).map((name) => ({ kind: 'path', name })) }) as const;
/** A lease listing narrowed to a file, or to the caller's own leases; else the whole collection. */
const leaseList = {
  from: 'request',
  target: (ctx: Ctx): Target[] | Target => {
    const holder = queryValue(ctx, 'holder');
    if (holder !== null && holder === ctx.identity?.instanceId) return [];
    return { kind: 'path', name: queryValue(ctx, 'resource') };
  },
} as const;
const leasePath = { from: 'request', target: (ctx: Ctx): Target => ({ kind: 'path', name: queryValue(ctx, 'path') }) } as const;

/** The calling agent (SPEC §8.4): leases are held by identified agents only. */
function holderOf(ctx: Ctx): string {
  if (!ctx.identity) throw fail('IDENTITY_REQUIRED', 'lease');
  return ctx.identity.instanceId;
}

/** A file path to check: non-empty, at most MAX_KEY_BYTES, no NUL. */
const checkPath = (p: string | null | undefined): string => {
  if (!p) throw fail('FIELD_REQUIRED', 'path');
  return checkName(p, 'path');
};

export function leaseRoutes(svc: LeaseService): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/leases',
      summary: 'Lease files',
      rule: rule('write', 'take leases', leaseBody('resources')),
      replies: { 200: Lease },
      body: 'json',
      schema: LeaseBody,
      handler: async (ctx) => {
        const holder = holderOf(ctx);
        const b = ctx.json as { resources?: string[]; exclusive?: boolean; ttl?: unknown; reason?: string };
        const w = await svc.acquire(holder, { resources: b.resources ?? [], exclusive: b.exclusive ?? true, ttlMs: ttlParam(b.ttl), reason: b.reason ?? '' }, auditBy(ctx), requestIdem(ctx));
        sendJson(ctx, 200, w.lease, replayHeaders(w.replayed));
      },
    },
    {
      method: 'GET',
      path: '/api/leases',
      summary: 'List leases',
      rule: rule('read', 'list leases', leaseList),
      replies: { 200: LeaseListReply },
      query: Query({ holder: 'Only the leases of this agent', resource: 'Only the leases covering this file', limit: PositiveInt('How many leases') }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        sendJson(ctx, 200, await svc.list({ holder: q.get('holder') || null, resource: q.get('resource') || null, limit: positiveInt(q, 'limit', COORD_LIST_DEFAULT_LIMIT, COORD_LIST_MAX_LIMIT) }));
      },
    },
    { method: 'GET', path: '/api/leases/check', summary: 'The leases on one file', rule: rule('read', 'check leases', leasePath), replies: { 200: LeaseListReply }, query: Query({}, { path: 'The file' }), handler: async (ctx) => sendJson(ctx, 200, await svc.check(checkPath(queryParams(ctx).get('path')))) },
    {
      // Many paths at once (a pre-commit hook's staged files): only the leased ones come back.
      method: 'POST',
      path: '/api/leases/check',
      summary: 'The leases on many files',
      rule: rule('read', 'check leases', leaseBody('paths')),
      replies: { 200: LeaseCheckReply },
      body: 'json',
      schema: CheckBody,
      handler: async (ctx) => {
        const paths = (ctx.json as { paths?: string[] }).paths ?? [];
        if (paths.length > LEASE_CHECK_MAX_PATHS) throw fail('TOO_MANY', 'paths', paths.length, LEASE_CHECK_MAX_PATHS);
        const checked = paths.map((p) => ({ path: p, name: checkPath(p) }));
        const held = (await Promise.all(checked.map(async ({ path, name }) => ({ path, leases: await svc.check(name) })))).filter((h) => h.leases.length > 0);
        sendJson(ctx, 200, held);
      },
    },
    {
      method: 'GET',
      path: '/api/leases/:id',
      summary: 'Read a lease',
      rule: rule('read', 'read leases'),
      replies: { 200: Lease },
      handler: async (ctx) => {
        const lease = await svc.get(pathName(ctx.params[0]!, 'lease id'));
        // A scoped token reads its own leases and those on its files (issue 30).
        if (lease.holder !== ctx.identity?.instanceId) permitTargets(ctx, 'read leases', lease.resources.map((name) => ({ kind: 'path', name }) as const));
        sendJson(ctx, 200, lease);
      },
    },
    {
      method: 'POST',
      path: '/api/leases/:id/renew',
      summary: 'Renew a lease',
      rule: rule('write', 'renew leases'),
      replies: { 200: Lease },
      ...Fenced,
      body: 'json',
      schema: RenewBody,
      optionalBody: true,
      handler: async (ctx) => {
        const holder = holderOf(ctx);
        const { ttl, fence } = ctx.json as { ttl?: unknown; fence?: number };
        const w = await svc.renew(holder, pathName(ctx.params[0]!, 'lease id'), ttl === undefined ? undefined : ttlParam(ttl), fenceParam(ctx, fence), requestIdem(ctx));
        sendJson(ctx, 200, w.lease, replayHeaders(w.replayed));
      },
    },
    {
      method: 'DELETE',
      path: '/api/leases/:id',
      summary: 'Release a lease',
      rule: rule('write', 'release leases'),
      replies: { 200: LeaseReleasedReply },
      ...Fenced,
      handler: async (ctx) => {
        const holder = holderOf(ctx);
        const id = pathName(ctx.params[0]!, 'lease id');
        await svc.release(holder, id, auditBy(ctx), fenceParam(ctx));
        sendJson(ctx, 200, { released: id });
      },
    },
  ];
}
