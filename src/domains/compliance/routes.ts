import { PositiveInt, Query } from '../../../schemas/http/common.js';
import { sendJson, sendJsonText } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import { positiveInt, queryParams } from '../../http/query.js';
import { COMPLIANCE_HISTORY_DEFAULT_LIMIT, COMPLIANCE_HISTORY_MAX_LIMIT } from '../../shared/limits.js';
import type { ComplianceService } from './service.js';
import { ComplianceHistoryReply, ComplianceRunReply } from '../../../schemas/http/compliance.js';
import { rule } from '../../http/permissions.js';

/** The history of compliance runs, and a pass on demand. */
export function complianceRoutes(svc: ComplianceService): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/compliance/history',
      summary: 'Past compliance runs',
      rule: rule('read', 'read compliance history'),
      replies: { 200: ComplianceHistoryReply },
      query: Query({ instance_id: 'Only the runs of this agent', limit: PositiveInt('How many runs') }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        // Strict: a bad limit is a 400 naming it; an empty instance_id = all.
        const limit = positiveInt(q, 'limit', COMPLIANCE_HISTORY_DEFAULT_LIMIT, COMPLIANCE_HISTORY_MAX_LIMIT);
        const instanceId = q.get('instance_id') || null;
        sendJsonText(ctx, 200, await svc.historyJson(instanceId, limit));
      },
    },
    {
      method: 'POST',
      path: '/api/compliance/run',
      summary: 'Run the compliance checks now',
      rule: rule('write', 'run compliance checks'),
      replies: { 200: ComplianceRunReply },
      handler: async (ctx) => {
        const runs = await svc.run();
        sendJson(ctx, 200, { checked: true, runs, count: runs.length });
      },
    },
  ];
}
