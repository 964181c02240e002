import { DeletedReply, PositiveInt, Query } from '../../../schemas/http/common.js';
import { auditBy } from '../../http/actor.js';
import { CapabilitiesBody, CapabilitiesReply, InstanceListReply, InstanceStatusReply, InstanceSummary, LivenessReply, RegisterBody, RegisterReply } from '../../../schemas/http/instances.js';
import { INSTANCE } from '../../../schemas/db/tables/instances.js';
import { fail } from '../../errors.js';
import { createInput } from '../../http/body.js';
import type { Ctx } from '../../http/context.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import { positiveInt, queryParams } from '../../http/query.js';
import { COORD_LIST_MAX_LIMIT } from '../../shared/limits-features.js';
import type { LivenessMonitor } from './liveness.js';
import type { InstanceService } from './service.js';
import { rule } from '../../http/permissions.js';

const idOf = (ctx: Ctx): string => {
  try {
    return decodeURIComponent(ctx.params[0]!);
  } catch {
    throw fail('INVALID_URL_ENCODING', 'path');
  }
};

export function instanceRoutes(svc: InstanceService, liveness: LivenessMonitor): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/instances',
      summary: 'List agents',
      rule: rule('read', 'list agents'),
      replies: { 200: InstanceListReply },
      query: Query({
        name: 'Only agents of this name',
        workspace: 'Only agents in this workspace',
        stack: 'Only agents of this stack',
        capability: 'Only agents with this capability',
        limit: PositiveInt('Only the agents seen last, this many (default: all)'),
      }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        const f = (k: string) => (q.get(k) ? q.get(k)! : undefined);
        // Absent or empty: every agent.
        const limit = positiveInt(q, 'limit', Number.MAX_SAFE_INTEGER, COORD_LIST_MAX_LIMIT);
        sendJson(ctx, 200, await svc.list({ name: f('name'), workspace: f('workspace'), stack: f('stack'), capability: f('capability') }, limit));
      },
    },
    { method: 'GET', path: '/api/instances/stale', summary: 'List agents gone stale', rule: rule('read', 'list agents'), replies: { 200: InstanceListReply }, handler: async (ctx) => sendJson(ctx, 200, await svc.stale()) },
    { method: 'GET', path: '/api/instances/:id', summary: 'Read an agent', rule: rule('read', 'read agents'), replies: { 200: InstanceSummary }, handler: async (ctx) => sendJson(ctx, 200, await svc.get(idOf(ctx))) },
    {
      method: 'POST',
      path: '/api/instances/register',
      summary: 'Register an agent',
      rule: rule('write', 'register agents'),
      replies: { 200: RegisterReply },
      body: 'json',
      schema: RegisterBody,
      handler: async (ctx) => {
        const input = createInput(INSTANCE, ctx);
        if (!input.name) throw fail('FIELD_REQUIRED', 'name');
        // The actor of a registration is the new instance's name.
        const w = await svc.register({ ...input, ...(ctx.principal.tokenId !== null ? { token_id: ctx.principal.tokenId } : {}) }, auditBy(ctx, input.name), requestIdem(ctx));
        sendJson(ctx, 200, w.instance, replayHeaders(w.replayed));
      },
    },
    {
      method: 'POST',
      path: '/api/instances/:id/activate',
      summary: 'Mark an agent active',
      rule: rule('self', 'activate agents'),
      replies: { 200: InstanceStatusReply },
      handler: async (ctx) => {
        const i = await svc.touch(idOf(ctx), 'activate', auditBy(ctx));
        sendJson(ctx, 200, { id: i.id, status: 'active' });
      },
    },
    {
      method: 'POST',
      path: '/api/instances/:id/heartbeat',
      summary: "Record an agent's heartbeat",
      rule: rule('self', 'heartbeat for agents'),
      replies: { 200: InstanceStatusReply },
      handler: async (ctx) => {
        const i = await svc.touch(idOf(ctx), 'heartbeat');
        sendJson(ctx, 200, { id: i.id, status: 'ok' });
      },
    },
    {
      method: 'POST',
      path: '/api/instances/:id/capabilities',
      summary: "Replace an agent's capabilities",
      rule: rule('self', "change agents' capabilities"),
      replies: { 200: CapabilitiesReply },
      body: 'json',
      schema: CapabilitiesBody,
      handler: async (ctx) => {
        const caps = (ctx.json as { capabilities?: string[] | null }).capabilities ?? [];
        const i = await svc.update(idOf(ctx), { capabilities: caps }, auditBy(ctx));
        sendJson(ctx, 200, { id: i.id, capabilities: i.capabilities });
      },
    },
    {
      method: 'DELETE',
      path: '/api/instances/:id',
      summary: 'Deregister an agent',
      rule: rule('self', 'deregister agents'),
      replies: { 200: DeletedReply },
      handler: async (ctx) => {
        const id = idOf(ctx);
        await svc.deregister(id, auditBy(ctx));
        sendJson(ctx, 200, { deleted: id });
      },
    },
    {
      method: 'POST',
      path: '/api/liveness/check',
      summary: 'Run the liveness check now',
      rule: rule('admin', 'run the liveness check'),
      replies: { 200: LivenessReply },
      handler: async (ctx) => {
        const stale = await liveness.check();
        sendJson(ctx, 200, { checked: true, newly_stale: stale, count: stale.length });
      },
    },
  ];
}
