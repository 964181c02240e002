import { sendJson } from '../../http/reply.js';
import type { Route } from '../../http/router.js';
import { goUptime, type CallCounters } from './metrics.js';

export interface SystemDeps {
  startedAt: number;
  counters: CallCounters;
  apiBind: string;
  dashboardBind: string;
  /** Figures other domains contribute to /api/metrics (state_keys, instances, …). */
  figures: () => Record<string, unknown>;
}

export function systemRoutes(d: SystemDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/health',
      public: true,
      counted: false,
      handler: (ctx) => sendJson(ctx, 200, { status: 'ok', uptime: goUptime(Date.now() - d.startedAt) }),
    },
    {
      method: 'GET',
      path: '/api/metrics',
      counted: false,
      handler: (ctx) =>
        sendJson(ctx, 200, {
          uptime: goUptime(Date.now() - d.startedAt),
          state_keys: 0,
          instances: 0,
          last_event_id: 0,
          ...d.figures(),
          api_bind: d.apiBind,
          dashboard_bind: d.dashboardBind,
          token_tax: d.counters.tokenTax(),
        }),
    },
    {
      method: 'POST',
      path: '/api/metrics/reset',
      counted: false,
      handler: (ctx) => {
        d.counters.reset();
        sendJson(ctx, 200, { reset: true });
      },
    },
  ];
}
