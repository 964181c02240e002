import { auditBy } from '../../http/actor.js';
import { CapabilitiesBody, RegisterBody } from '../../../schemas/http/instances.js';
import { fail } from '../../errors.js';
import type { Ctx } from '../../http/context.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/router.js';
import { queryParams } from '../../http/query.js';
import type { LivenessMonitor } from './liveness.js';
import type { InstanceService } from './service.js';

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
      handler: async (ctx) => {
        const q = queryParams(ctx);
        const f = (k: string) => (q.get(k) ? q.get(k)! : undefined);
        sendJson(ctx, 200, await svc.list({ name: f('name'), workspace: f('workspace'), stack: f('stack'), capability: f('capability') }));
      },
    },
    { method: 'GET', path: '/api/instances/stale', handler: async (ctx) => sendJson(ctx, 200, await svc.stale()) },
    { method: 'GET', path: '/api/instances/:id', handler: async (ctx) => sendJson(ctx, 200, await svc.get(idOf(ctx))) },
    {
      method: 'POST',
      path: '/api/instances/register',
      body: 'json',
      schema: RegisterBody,
      handler: async (ctx) => {
        const b = ctx.json as { name?: string; workspace?: string; intent?: string; stack?: string; capabilities?: string[] | null };
        if (!b.name) throw fail('FIELD_REQUIRED', 'name');
        // SPEC §2.13: the actor of a registration is the new instance's name.
        const w = await svc.register(
          { name: b.name, workspace: b.workspace ?? '', intent: b.intent ?? '', stack: b.stack ?? '', capabilities: b.capabilities ?? [], ...(ctx.principal.tokenId !== null ? { token_id: ctx.principal.tokenId } : {}) },
          auditBy(ctx, b.name),
          requestIdem(ctx),
        );
        sendJson(ctx, 200, w.instance, replayHeaders(w.replayed));
      },
    },
    {
      method: 'POST',
      path: '/api/instances/:id/activate',
      handler: async (ctx) => {
        const i = await svc.touch(idOf(ctx), 'activate', auditBy(ctx));
        sendJson(ctx, 200, { id: i.id, status: 'active' });
      },
    },
    {
      method: 'POST',
      path: '/api/instances/:id/heartbeat',
      handler: async (ctx) => {
        const i = await svc.touch(idOf(ctx), 'heartbeat');
        sendJson(ctx, 200, { id: i.id, status: 'ok' });
      },
    },
    {
      method: 'POST',
      path: '/api/instances/:id/capabilities',
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
      handler: async (ctx) => {
        const id = idOf(ctx);
        await svc.deregister(id, auditBy(ctx));
        sendJson(ctx, 200, { deleted: id });
      },
    },
    {
      method: 'POST',
      path: '/api/liveness/check',
      handler: async (ctx) => {
        const stale = await liveness.check();
        sendJson(ctx, 200, { checked: true, newly_stale: stale, count: stale.length });
      },
    },
  ];
}
