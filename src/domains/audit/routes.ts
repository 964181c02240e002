import { PositiveInt, Query } from '../../../schemas/http/common.js';
import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import { instantParam, positiveInt, queryParams } from '../../http/query.js';
import { OPS_LIST_DEFAULT_LIMIT, OPS_LIST_MAX_LIMIT } from '../../shared/limits-features.js';
import type { AuditService } from './service.js';
import { AuditListReply, AuditSummaryReply } from '../../../schemas/http/audit.js';
import { rule } from '../../http/permissions.js';

const exact = (q: URLSearchParams, k: string): string | null => (q.get(k) ? q.get(k)! : null);

export function auditRoutes(svc: AuditService): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/audit',
      summary: 'Read the audit log',
      rule: rule('admin', 'read the audit log'),
      replies: { 200: AuditListReply },
      query: Query({ actor: 'Only the entries of this actor', action: 'Only the entries of this action', from: 'Entries at or after this instant', to: 'Entries before this instant', limit: PositiveInt('How many entries') }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        sendJson(
          ctx,
          200,
          await svc.list({
            actor: exact(q, 'actor'),
            action: exact(q, 'action'),
            // Instants: RFC 3339 or YYYY-MM-DD[ HH:MM:SS] (UTC).
            from: instantParam(q, 'from', true),
            to: instantParam(q, 'to', true),
            limit: positiveInt(q, 'limit', OPS_LIST_DEFAULT_LIMIT, OPS_LIST_MAX_LIMIT),
          }),
        );
      },
    },
    {
      method: 'GET',
      path: '/api/audit/summary',
      summary: 'Summarise the audit log',
      rule: rule('admin', 'read the audit log'),
      replies: { 200: AuditSummaryReply },
      query: Query({ from: 'Entries at or after this instant', to: 'Entries before this instant' }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        sendJson(ctx, 200, await svc.summary({ from: instantParam(q, 'from', true), to: instantParam(q, 'to', true) }));
      },
    },
  ];
}
