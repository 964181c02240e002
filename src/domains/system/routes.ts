import { openApiDocument } from '../../http/openapi.js';
import { send, sendJson, sendJsonText } from '../../http/reply.js';
import { PROMETHEUS, type Route, type RouteDecl } from '../../http/route.js';
import type { Metrics, MetricsSnapshot } from '../../metrics/registry.js';
import type { Presence } from '../instances/presence.js';
import { goUptime, tokenTax, type CallCounters } from './metrics.js';
import { HealthReply, MetricsReply, MetricsResetReply, OpenApiReply } from '../../../schemas/http/system.js';
import { rule } from '../../http/permissions.js';

export interface SystemDeps {
  /** The server's own presence: /health reports the liveness monitor's lag and grace. */
  presence: Presence;
  /** Set while the disk holding the database is full: /health says degraded and why. */
  storageFull: () => { since: number; error: string } | null;
  /** Milliseconds since the server started, on the monotonic clock (never negative, whatever the wall clock does). */
  uptimeMs: () => number;
  /** Random per start (X-Koor-Boot on /health): a client can tell that the server restarted. */
  bootId: string;
  counters: CallCounters;
  apiBind: string;
  dashboardBind: string;
  /** The server's one metrics registry: /metrics renders it, /api/metrics reads from it. */
  metrics: Metrics;
  /** Figures /api/metrics adds to the original's (events, writer, retention, …), from the registry. */
  figures: (v: MetricsSnapshot) => Record<string, unknown>;
  /** Every route the server serves, REST and WebSocket (read when the API description is first asked for). */
  api: () => { routes: readonly Route[]; sockets: readonly RouteDecl[] };
}

export function systemRoutes(d: SystemDeps): Route[] {
  // The routes are fixed once the server listens: described once, on the first request.
  let description: string | null = null;
  return [
    {
      method: 'GET',
      path: '/health',
      summary: 'Whether the server is up, and its liveness clock',
      rule: rule('public', 'check health'),
      replies: { 200: HealthReply },
      public: true,
      counted: false,
      handler: (ctx) => {
        const pr = d.presence;
        pr.sample();
        const liveness = { lag_ms: Math.round(pr.lastLagMs), max_lag_ms: Math.round(pr.maxLagMs), absences: pr.absences, grace_ms: pr.graceLeftMs() };
        const full = d.storageFull();
        const body = full
          ? { status: 'degraded', uptime: goUptime(d.uptimeMs()), liveness, storage: `full since ${new Date(full.since).toISOString()}: writes answer 507 until space is freed (${full.error})` }
          : { status: 'ok', uptime: goUptime(d.uptimeMs()), liveness };
        sendJson(ctx, 200, body, [['X-Koor-Boot', d.bootId]]);
      },
    },
    {
      method: 'GET',
      path: '/api/metrics',
      summary: "The server's figures",
      rule: rule('read', 'read metrics'),
      replies: { 200: MetricsReply },
      counted: false,
      handler: async (ctx) => {
        const v = await d.metrics.snapshot();
        sendJson(ctx, 200, {
          uptime: goUptime(d.uptimeMs()),
          ...d.figures(v),
          api_bind: d.apiBind,
          dashboard_bind: d.dashboardBind,
          token_tax: tokenTax(v('koor_rest_calls_total'), v('koor_mcp_calls_total')),
        });
      },
    },
    {
      method: 'POST',
      path: '/api/metrics/reset',
      summary: 'Reset the call counters',
      rule: rule('admin', 'reset metrics'),
      replies: { 200: MetricsResetReply },
      counted: false,
      handler: (ctx) => {
        d.counters.reset();
        sendJson(ctx, 200, { reset: true });
      },
    },
    {
      // Prometheus text format; auth as /api/*, not a token-tax call.
      method: 'GET',
      path: '/metrics',
      summary: 'Metrics in the Prometheus text format',
      rule: rule('read', 'read metrics'),
      replies: { 200: PROMETHEUS },
      counted: false,
      handler: async (ctx) => {
        const text = await d.metrics.text();
        send(ctx, 200, text, d.metrics.contentType);
      },
    },
    {
      method: 'GET',
      path: '/api/openapi.json',
      summary: 'This API, described in OpenAPI 3.1',
      rule: rule('read', 'read the API description'),
      replies: { 200: OpenApiReply },
      counted: false,
      handler: (ctx) => {
        if (description === null) {
          const { routes, sockets } = d.api();
          description = JSON.stringify(openApiDocument(routes, sockets));
        }
        sendJsonText(ctx, 200, description);
      },
    },
  ];
}
