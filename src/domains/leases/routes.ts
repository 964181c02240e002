import { Fenced, PositiveInt, Query } from '../../../schemas/http/common.js';
import { CheckBody, Lease, LeaseBody, LeaseCheckReply, LeaseListReply, LeaseReleasedReply, RenewBody } from '../../../schemas/http/leases.js';
import { fail } from '../../errors.js';
import { auditBy } from '../../http/actor.js';
import type { Ctx } from '../../http/context.js';
import { rule, strings } from '../../http/permissions.js';
import { permitTargets, type Target } from '../../access.js';
import { pathName } from '../../http/path.js';
import { checkName, checkProject } from '../../names.js';
import { positiveInt, queryParams, fenceParam } from '../../http/query.js';
import { sendJson } from '../../http/reply.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import type { Route } from '../../http/route.js';
import { COORD_LIST_DEFAULT_LIMIT, COORD_LIST_MAX_LIMIT, LEASE_CHECK_MAX_PATHS } from '../../shared/limits-features.js';
import { ttlParam, type LeaseService } from './service.js';

/**
 * The project a lease request is in: the one it names, else the calling agent's ('' for
 * a caller with no agent or an agent with no project). A named one must be a valid project name.
 */
async function projectOf(ctx: Ctx, named: unknown, svc: LeaseService): Promise<string> {
  if (typeof named === 'string' && named !== '') return checkProject(named);
  return svc.projectOf(ctx.identity?.instanceId ?? null);
}

/** A scoped token's refusal unless its scopes reach these paths of `project` (a `project:<p>` scope reaches all of p's). */
const permitPaths = (ctx: Ctx, action: string, project: string, paths: readonly string[]): void =>
  permitTargets(ctx, action, paths.map((name): Target => ({ kind: 'path', name, project })));

/** The calling agent: leases are held by identified agents only. */
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
      // Scopes are checked once the lease's project is known (the caller's, when the body names none).
      rule: rule('write', 'take leases'),
      replies: { 200: Lease },
      body: 'json',
      schema: LeaseBody,
      handler: async (ctx) => {
        const holder = holderOf(ctx);
        const b = ctx.json as { project?: string; resources?: string[]; exclusive?: boolean; ttl?: unknown; reason?: string };
        const project = await projectOf(ctx, b.project, svc);
        permitPaths(ctx, 'take leases', project, strings(b.resources));
        const w = await svc.acquire(holder, { project, resources: b.resources ?? [], exclusive: b.exclusive ?? true, ttlMs: ttlParam(b.ttl), reason: b.reason ?? '' }, auditBy(ctx), requestIdem(ctx));
        sendJson(ctx, 200, w.lease, replayHeaders(w.replayed));
      },
    },
    {
      method: 'GET',
      path: '/api/leases',
      summary: 'List leases',
      // A scoped token lists its own leases, or narrows the list to a project or a file it reaches.
      rule: rule('read', 'list leases'),
      replies: { 200: LeaseListReply },
      query: Query({
        holder: 'Only the leases of this agent',
        project: 'Only the leases of this project (default: every project; with resource, the calling agent\'s)',
        resource: 'Only the leases covering this file',
        limit: PositiveInt('How many leases'),
      }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        const holder = q.get('holder') || null;
        const resource = q.get('resource') || null;
        const named = q.get('project') || null;
        const project = named !== null || resource !== null ? await projectOf(ctx, named, svc) : null;
        if (holder === null || holder !== ctx.identity?.instanceId) {
          permitTargets(ctx, 'list leases', resource !== null ? { kind: 'path', name: resource, project: project ?? '' } : { kind: 'project', name: project });
        }
        sendJson(ctx, 200, await svc.list({ holder, project, resource, limit: positiveInt(q, 'limit', COORD_LIST_DEFAULT_LIMIT, COORD_LIST_MAX_LIMIT) }));
      },
    },
    {
      method: 'GET',
      path: '/api/leases/check',
      summary: 'The leases on one file',
      rule: rule('read', 'check leases'),
      replies: { 200: LeaseListReply },
      query: Query({ project: "The file's project (default: the calling agent's)" }, { path: 'The file' }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        const path = checkPath(q.get('path'));
        const project = await projectOf(ctx, q.get('project'), svc);
        permitPaths(ctx, 'check leases', project, [path]);
        sendJson(ctx, 200, await svc.check(project, path));
      },
    },
    {
      // Many paths at once (a pre-commit hook's staged files): only the leased ones come back.
      method: 'POST',
      path: '/api/leases/check',
      summary: 'The leases on many files',
      rule: rule('read', 'check leases'),
      replies: { 200: LeaseCheckReply },
      body: 'json',
      schema: CheckBody,
      handler: async (ctx) => {
        const b = ctx.json as { paths?: string[]; project?: string };
        const paths = b.paths ?? [];
        if (paths.length > LEASE_CHECK_MAX_PATHS) throw fail('TOO_MANY', 'paths', paths.length, LEASE_CHECK_MAX_PATHS);
        const checked = paths.map((p) => ({ path: p, name: checkPath(p) }));
        const project = await projectOf(ctx, b.project, svc);
        permitPaths(ctx, 'check leases', project, paths);
        const held = (await Promise.all(checked.map(async ({ path, name }) => ({ path, leases: await svc.check(project, name) })))).filter((h) => h.leases.length > 0);
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
        // A scoped token reads its own leases and those on its files.
        if (lease.holder !== ctx.identity?.instanceId) permitPaths(ctx, 'read leases', lease.project, lease.resources);
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
