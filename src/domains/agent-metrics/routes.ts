import { Query } from '../../../schemas/http/common.js';
import { fail } from '../../errors.js';
import { pathName } from '../../http/path.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import { queryParams } from '../../http/query.js';
import type { AgentMetrics } from './service.js';
import { AgentMetricRows, AgentMetricTotals } from '../../../schemas/http/agent-metrics.js';
import { rule } from '../../http/permissions.js';

/** `?period=` is a prefix of `YYYY-MM-DDTHH`: anything else can match nothing, so it is a 400. */
function periodOf(q: URLSearchParams): string | null {
  const p = q.get('period');
  if (p === null || p === '') return null;
  if (!/^\d{1,4}(-\d{0,2}(-\d{0,2}(T\d{0,2})?)?)?$/.test(p)) throw fail('PERIOD_INVALID');
  return p;
}

export function agentMetricRoutes(svc: AgentMetrics): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/metrics/agents',
      summary: 'Figures per agent',
      rule: rule('read', 'read agent metrics'),
      replies: { 200: AgentMetricTotals },
      modes: { instance_id: AgentMetricRows },
      query: Query({ instance_id: "This agent's figures by hour", period: 'Only the hours starting with this (YYYY-MM-DDTHH, or a prefix)' }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        const id = q.get('instance_id');
        if (id) return sendJson(ctx, 200, await svc.rows(id, periodOf(q)));
        sendJson(ctx, 200, await svc.totals(periodOf(q)));
      },
    },
    {
      method: 'GET',
      path: '/api/metrics/agents/:id',
      summary: "An agent's figures by hour",
      rule: rule('read', 'read agent metrics'),
      replies: { 200: AgentMetricRows },
      query: Query({ period: 'Only the hours starting with this (YYYY-MM-DDTHH, or a prefix)' }),
      handler: async (ctx) => sendJson(ctx, 200, await svc.rows(pathName(ctx.params[0]!, 'id'), periodOf(queryParams(ctx)))),
    },
  ];
}
