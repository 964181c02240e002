import './uws-env.js';
import uWS from 'uWebSockets.js';
import { ConfigError, type Bind, type Config } from '../config.js';
import { HostGuard, ownOrigins } from './host-guard.js';
import { DASHBOARD_ROUTES, DashboardAssets, defaultDashboardDir, mountDashboard } from '../dashboard/static.js';
import type { AgentMetrics } from '../domains/agent-metrics/service.js';
import type { SocketRoute } from '../domains/domain.js';
import type { CallCounters } from '../domains/system/metrics.js';
import type { Logger } from '../log.js';
import { mountMcp } from './mcp.js';
import type { McpGateway } from '../mcp/gateway.js';
import type { HttpMetrics } from '../metrics/http.js';
import type { Authenticator } from './auth.js';
import type { Ctx } from '../http/context.js';
import type { Rule } from '../http/permissions.js';
import type { RateLimiter } from './rate-limit.js';
import { hostForUrl, listen, urlScheme, type Front } from './listen.js';
import { mount } from './router.js';
import type { Route } from '../http/route.js';
import { Slots } from '../http/slots.js';

export interface FrontDeps {
  config: Config;
  log: Logger;
  auth: Authenticator;
  routes: readonly Route[];
  /** A call a route's rule refused (counted and audited). */
  onDenied: (ctx: Ctx, rule: Rule, route: string) => void;
  /** Requests per second per token. */
  limiter: RateLimiter;
  /** WebSocket routes of the domains (event subscriptions, watches, the inbox's push). */
  sockets: readonly SocketRoute[];
  mcp: McpGateway;
  counters: CallCounters;
  agentMetrics: AgentMetrics;
  http: HttpMetrics;
  /** Where the built dashboard is (default: dist/dashboard of this checkout or install). */
  dashboardDir?: string;
  /** The previous generation's listeners (live restore): mounted anew, not opened. */
  reuse: Front | null;
  /** The listeners' TLS options (tlsOptions of tls.ts), null = plain HTTP. */
  tls: uWS.AppOptions | null;
}

/**
 * Mounts the server's routes and opens its listeners. Both listeners serve /health and all of
 * /api/* (REST + event subscriptions) alike; the API listener serves MCP, the dashboard listener
 * the dashboard's page and assets. Calls through the API listener count in the token-tax figures
 * and in the calling agent's own metrics; dashboard-served calls do not.
 */
export async function openFront(d: FrontDeps): Promise<Front> {
  const { config, log, auth, http } = d;
  const httpLog = log.child({ component: 'http' });
  // The dashboard's built client app, read once when the listener is on.
  const assets = config.dashboardBind ? DashboardAssets.load(d.dashboardDir ?? defaultDashboardDir()) : null;
  if (assets?.missing) log.warn(assets.missing);
  const mountApi = (app: Slots, viaDashboard: boolean): void => {
    if (viaDashboard && assets) mountDashboard(app, assets, { log: httpLog, http });
    for (const s of d.sockets) s.mount(app, { auth, log: log.child({ component: 'ws' }), onDenied: d.onDenied, rule: s.rule });
    const wsRoutes = d.sockets.map((s) => ({ method: s.method, path: s.path }));
    mount(app, d.routes, {
      auth,
      log: httpLog,
      maxBodyBytes: config.maxBodyBytes,
      viaDashboard,
      onCall: viaDashboard
        ? undefined
        : (ctx) => {
            d.counters.rest++;
            if (ctx.identity) {
              const id = ctx.identity.instanceId;
              d.agentMetrics.add(id, 'rest_calls');
              ctx.tally = (name, n = 1) => d.agentMetrics.add(id, name, n);
            }
          },
      extra: viaDashboard ? [...wsRoutes, ...DASHBOARD_ROUTES] : wsRoutes,
      http,
      onDenied: d.onDenied,
      limiter: d.limiter,
    });
  };
  // TLS: both listeners are SSL apps; a live restore keeps the apps it was given.
  const tls = d.tls;
  const newApp = (): uWS.TemplatedApp => {
    if (tls === null) return uWS.App();
    try {
      return uWS.SSLApp(tls);
    } catch (e) {
      throw new ConfigError(`cannot serve TLS with --tls-cert ${config.tlsCert} and --tls-key ${config.tlsKey}: ${(e as Error).message}`);
    }
  };
  const api = d.reuse?.api ?? new Slots(newApp());
  let apiBase = '';
  const onMcpCall = (ctx: { identity?: { instanceId: string } | null }) => {
    d.counters.mcp++;
    if (ctx.identity) d.agentMetrics.add(ctx.identity.instanceId, 'mcp_calls');
  };
  mountMcp(api, { auth, gateway: d.mcp, maxBodyBytes: config.maxBodyBytes, log: log.child({ component: 'mcp' }), onCall: onMcpCall, baseUrl: () => apiBase, http });
  mountApi(api, false);
  let front: Front;
  if (d.reuse) {
    if (d.reuse.dash) mountApi(d.reuse.dash, true);
    front = d.reuse;
  } else {
    const sockets: uWS.us_listen_socket[] = [];
    try {
      const l = await listen(api.app, config.bind, 'API');
      sockets.push(l.socket);
      let dash: Slots | null = null;
      let dashboardPort: number | null = null;
      if (config.dashboardBind) {
        dash = new Slots(newApp());
        mountApi(dash, true);
        const dl = await listen(dash.app, config.dashboardBind, 'dashboard');
        sockets.push(dl.socket);
        dashboardPort = dl.port;
      }
      front = { api, dash, sockets, port: l.port, dashboardPort };
    } catch (e) {
      for (const s of sockets) uWS.us_listen_socket_close(s);
      throw e; // the caller undoes the rest
    }
  }
  apiBase = `${urlScheme(config)}://${hostForUrl(config.bind)}:${front.port}`;
  // Host and Origin (src/front/host-guard.ts), once the ports are known: each listener its own bind's names,
  // both the API's and the dashboard's origins.
  const listeners = [{ bind: config.bind, port: front.port }];
  if (front.dash && config.dashboardBind && front.dashboardPort !== null) listeners.push({ bind: config.dashboardBind, port: front.dashboardPort });
  const own = ownOrigins(urlScheme(config), listeners);
  const guardLog = log.child({ component: 'http' });
  const guard = (bind: Bind) => new HostGuard({ bind, allowedHosts: config.allowedHosts, allowedOrigins: config.allowedOrigins, ownOrigins: own, log: guardLog });
  front.api.gate = guard(config.bind);
  if (front.dash) front.dash.gate = guard(config.dashboardBind ?? config.bind);
  return front;
}
