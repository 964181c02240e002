import { LlmUsageBody } from '../../../schemas/http/ops.js';
import { fail } from '../../errors.js';
import { auditBy } from '../../http/actor.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/router.js';
import { instantParam, positiveInt, queryParams } from '../../http/query.js';
import { OPS_LIST_DEFAULT_LIMIT, OPS_LIST_MAX_LIMIT } from '../../shared/limits.js';
import { isGroupBy, type ListFilter, type LlmService } from './service.js';

type Body = { [K in 'instance_id' | 'project' | 'provider' | 'model' | 'request_type' | 'session_tag']?: string | null } & {
  tokens_in?: number | null;
  tokens_out?: number | null;
  cost_usd?: number | null;
};

export function llmRoutes(svc: LlmService): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/llm/usage',
      body: 'json',
      schema: LlmUsageBody,
      handler: async (ctx) => {
        const b = ctx.json as Body;
        if (!b.provider) throw fail('FIELD_REQUIRED', 'provider');
        if (!b.model) throw fail('FIELD_REQUIRED', 'model');
        // An identified agent that leaves instance_id out records usage as itself (SPEC §8.4).
        const instanceId = b.instance_id || ctx.identity?.instanceId || '';
        const r = await svc.record(
          {
            instance_id: instanceId,
            project: b.project ?? '',
            provider: b.provider,
            model: b.model,
            tokens_in: b.tokens_in ?? 0,
            tokens_out: b.tokens_out ?? 0,
            cost_usd: b.cost_usd ?? 0,
            request_type: b.request_type || 'completion',
            session_tag: b.session_tag ?? '',
          },
          auditBy(ctx, instanceId),
        );
        sendJson(ctx, 200, r);
      },
    },
    {
      method: 'GET',
      path: '/api/llm/usage',
      handler: async (ctx) => {
        const q = queryParams(ctx);
        let by: ListFilter['by'] = null;
        if (q.get('instance')) by = { column: 'instance_id', value: q.get('instance')! };
        else if (q.get('project')) by = { column: 'project', value: q.get('project')! };
        else if (q.get('session_tag')) by = { column: 'session_tag', value: q.get('session_tag')! };
        sendJson(
          ctx,
          200,
          await svc.list({ by, from: instantParam(q, 'from', true), to: instantParam(q, 'to', true), limit: positiveInt(q, 'limit', OPS_LIST_DEFAULT_LIMIT, OPS_LIST_MAX_LIMIT) }),
        );
      },
    },
    {
      method: 'GET',
      path: '/api/llm/usage/summary',
      handler: async (ctx) => {
        const q = queryParams(ctx);
        const groupBy = q.get('group_by') || 'project';
        if (!isGroupBy(groupBy)) throw fail('GROUP_BY_INVALID');
        const span = { from: instantParam(q, 'from', true), to: instantParam(q, 'to', true) };
        // from/to echoed as given ("" when absent).
        sendJson(ctx, 200, { group_by: groupBy, from: q.get('from') ?? '', to: q.get('to') ?? '', ...(await svc.summary(groupBy, span)) });
      },
    },
  ];
}
