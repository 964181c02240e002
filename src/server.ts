import { randomUUID } from 'node:crypto';
import uWS from 'uWebSockets.js';
import { ConfigError, type Bind, type Config } from './config.js';
import { LEASE_EXPIRY_CHECK_MS, BACKUP_TIMEOUT_MS, RESTORE_MAX_BYTES, POOL_MAX_QUEUE, WEBHOOK_MAX_CONCURRENT, WEBHOOK_MAX_REPLY_BYTES, WEBHOOK_MAX_SOCKETS, WEBHOOK_THREAD_NICE, WEBHOOK_TIMEOUT_MS, SHUTDOWN_GRACE_MS, STARTUP_TIMEOUT_MS } from './shared/limits.js';
import { AdminService } from './domains/admin/service.js';
import { adminRoutes } from './domains/admin/routes.js';
import { CallCounters } from './domains/system/metrics.js';
import { systemRoutes } from './domains/system/routes.js';
import { Retention } from './domains/system/retention.js';
import { StateService } from './domains/state/service.js';
import { stateRoutes } from './domains/state/routes.js';
import { SpecService } from './domains/specs/service.js';
import { specRoutes } from './domains/specs/routes.js';
import { RuleService } from './domains/rules/service.js';
import { ruleRoutes } from './domains/rules/routes.js';
import { TemplateService } from './domains/templates/service.js';
import { templateRoutes } from './domains/templates/routes.js';
import { EventService } from './domains/events/service.js';
import { eventRoutes } from './domains/events/routes.js';
import { Hub } from './bus/hub.js';
import { InstanceService } from './domains/instances/service.js';
import { LivenessMonitor } from './domains/instances/liveness.js';
import { instanceRoutes } from './domains/instances/routes.js';
import { ContractService } from './domains/contracts/service.js';
import { contractRoutes } from './domains/contracts/routes.js';
import { ComplianceService } from './domains/compliance/service.js';
import { complianceRoutes } from './domains/compliance/routes.js';
import { AuditService } from './domains/audit/service.js';
import { auditRoutes } from './domains/audit/routes.js';
import { AgentMetrics } from './domains/agent-metrics/service.js';
import { agentMetricRoutes } from './domains/agent-metrics/routes.js';
import { LlmService } from './domains/llm/service.js';
import { llmRoutes } from './domains/llm/routes.js';
import { LeaseService } from './domains/leases/service.js';
import { leaseRoutes } from './domains/leases/routes.js';
import { TaskService } from './domains/tasks/service.js';
import { taskRoutes } from './domains/tasks/routes.js';
import { WebhookService } from './domains/webhooks/service.js';
import { WebhookDispatcher } from './domains/webhooks/dispatcher.js';
import { webhookRoutes } from './domains/webhooks/routes.js';
import { HttpMetrics } from './metrics/http.js';
import { apiFigures, defineKoorMetrics } from './metrics/koor.js';
import { Metrics } from './metrics/registry.js';
import { McpGateway } from './mcp/gateway.js';
import { mountMcp } from './mcp/bridge.js';
import { mountSubscribe, slowConsumerLogger, SUBSCRIBE_PATH } from './ws/subscribe.js';
import { DASHBOARD_ROUTES, DashboardAssets, defaultDashboardDir, mountDashboard } from './dashboard/static.js';
import { Authenticator } from './http/auth.js';
import { mount, type Route } from './http/router.js';
import { Slots } from './http/slots.js';
import { createCtx } from './http/context.js';
import { sendError } from './http/reply.js';
import { unavailable } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { PoolClient } from './rpc/pool-client.js';
import { WriterClient } from './rpc/writer-client.js';
import { DeliveryClient } from './rpc/delivery-client.js';
import type { Backend } from './backend/backend.js';
import { chooseBackend } from './backend/choose.js';
import type { Readers } from './backend/readers.js';
import type { Job } from './cluster/node.js';
import { within } from './within.js';
import type { Event } from '../schemas/rpc/writer.js';

export interface KoorServer {
  readonly config: Config;
  /** Bound ports (useful with port 0). */
  readonly port: number;
  readonly dashboardPort: number | null;
  /** `http://127.0.0.1:<port>` style base URL of the API listener. */
  readonly url: string;
  readonly dashboardUrl: string | null;
  readonly writer: WriterClient;
  readonly pool: PoolClient;
  readonly hub: Hub;
  readonly events: EventService;
  readonly instances: InstanceService;
  readonly liveness: LivenessMonitor;
  readonly retention: Retention;
  readonly mcp: McpGateway;
  readonly webhooks: WebhookDispatcher;
  readonly agentMetrics: AgentMetrics;
  /** The one metrics registry (GET /metrics, GET /api/metrics). */
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Random per start: tells a restarted server from the one before (`X-Koor-Boot` on /health). */
  readonly bootId: string;
  readonly front: Front;
  /** Cluster mode: whether this node runs the background jobs now; null on SQLite. */
  readonly cluster: { readonly isLeader: boolean } | null;
  /** `restart`: subscribers are told the server restarts (close code 1012), not that it stops. */
  close(opts?: { restart?: boolean }): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Set by the supervisor: restart this server on an uploaded snapshot (live restore). */
  onRestore?: (file: string) => void;
  /** The listening side of the previous generation, to serve on (live restore). */
  front?: Front;
  /** Where the built dashboard is (default: dist/dashboard of this checkout or install). */
  dashboardDir?: string;
}

/**
 * What a server listens with, kept across generations by a live restore: the uWS apps (their
 * routes in swappable slots) and their listening sockets, so clients keep the same address and
 * connections while the data underneath is replaced.
 */
export interface Front {
  readonly api: Slots;
  readonly dash: Slots | null;
  readonly sockets: uWS.us_listen_socket[];
  readonly port: number;
  readonly dashboardPort: number | null;
}

/** The fallback JS build of uWS is far slower; refuse to run on it. */
function assertNativeUws(): void {
  if (typeof (uWS as unknown as { getParts?: unknown }).getParts !== 'function') {
    throw new ConfigError('uWebSockets.js native binary not loaded (needs Node 20 on linux-x64); refusing the slow fallback');
  }
}

function listen(app: uWS.TemplatedApp, bind: Bind, what: string): Promise<{ socket: uWS.us_listen_socket; port: number }> {
  return new Promise((resolve, reject) => {
    const done = (socket: uWS.us_listen_socket | false) => {
      if (!socket) return reject(new ConfigError(`cannot listen on ${bind.text} (${what}): address already in use or not available`));
      resolve({ socket, port: uWS.us_socket_local_port(socket as unknown as uWS.us_socket) });
    };
    // Exclusive: uWS otherwise sets SO_REUSEPORT, and a second server on the same port would start
    // silently and share the connections (two databases answering one address).
    if (bind.host === '') app.listen(bind.port, LISTEN_EXCLUSIVE, done);
    else (app as unknown as ListenWithHost).listen(bind.host, bind.port, LISTEN_EXCLUSIVE, done);
  });
}

/** `listen(host, port, options, cb)` exists at runtime but is missing from the 20.30 typings. */
interface ListenWithHost {
  listen(host: string, port: number, options: number, cb: (socket: uWS.us_listen_socket | false) => void): unknown;
}
/** uWS ListenOptions.LIBUS_LISTEN_EXCLUSIVE_PORT (a const enum in the typings). */
const LISTEN_EXCLUSIVE = 1;

function hostForUrl(bind: Bind): string {
  if (bind.host === '' || bind.host === '0.0.0.0') return '127.0.0.1';
  if (bind.host === '::') return '[::1]';
  return bind.host.includes(':') ? `[${bind.host}]` : bind.host;
}

/** Composition root: config → logger → writer → pool → services → listeners. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<KoorServer> {
  assertNativeUws();
  const log = opts.log ?? createLogger(config.logLevel);
  // SQLite: one server per data directory (as per port), locked until close().
  const backend = await chooseBackend(config);
  // What start-up has opened so far, undone in reverse if a later step fails.
  const undo: Array<() => unknown> = [() => backend.close()];
  try {
    return await startLocked(config, log, backend, undo, opts);
  } catch (e) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (err) {
        log.warn({ err }, 'cleanup after a failed start-up');
      }
    }
    throw e;
  }
}

async function startLocked(config: Config, log: Logger, backend: Backend, undo: Array<() => unknown>, opts: StartOptions): Promise<KoorServer> {
  const bootId = randomUUID();
  const writer = new WriterClient({
    ...backend.writerTarget,
    logLevel: config.logLevel,
    sync: config.sync,
    deadlineMs: config.rpcDeadlineMs,
    maxInFlight: config.rpcMaxInFlight,
    log: log.child({ component: 'rpc' }),
    testHooks: config.testHooks === true,
    stateHistoryKeep: config.stateHistoryKeep,
  });
  const pool = new PoolClient({ threads: config.poolThreads, deadlineMs: config.poolDeadlineMs, maxQueue: POOL_MAX_QUEUE, log: log.child({ component: 'pool' }) });
  undo.push(() => pool.close());
  // Writer (DB open + migrations) and pool threads start in parallel; ready means both are up.
  // Bounded: a data file that cannot be opened (a lock held elsewhere, a hung file system) must
  // end start-up with one line, never a hang.
  const dbName = backend.label;
  const [writerUp, poolUp] = await Promise.allSettled([
    within(writer.start(), STARTUP_TIMEOUT_MS, 'opening the database'),
    within(pool.warmUp(), STARTUP_TIMEOUT_MS, 'starting the worker pool'),
  ]);
  if (writerUp.status === 'rejected') {
    void writer.kill(); // it may be stuck in native code: do not wait for it
    throw new ConfigError(`failed to open database ${dbName}: ${(writerUp.reason as Error).message}`);
  }
  undo.push(() => writer.close(0));
  if (poolUp.status === 'rejected') throw new ConfigError(`failed to start worker pool: ${(poolUp.reason as Error).message}`);
  // Reads: the front's own read-only SQLite connection, or (cluster mode) a PostgreSQL pool.
  let readers: Readers;
  try {
    readers = await backend.open(log);
  } catch (e) {
    throw new ConfigError(`failed to open database ${dbName}: ${(e as Error).message}`);
  }
  const startedAt = Date.now();
  const counters = new CallCounters();
  const auth = new Authenticator(config.authToken);
  const state = new StateService(readers.state, writer, pool, config.cacheBytes, backend.othersWrite);
  const specs = new SpecService(readers.specs, writer);
  const rules = new RuleService(readers.rules, writer, pool, backend.othersWrite);
  const templates = new TemplateService(readers.templates, writer, {
    importRules: (list, opts) => rules.import(list, opts),
    putSpec: (project, name, data, audit) => specs.put(project, name, data, {}, audit),
  });
  const wsLog = log.child({ component: 'ws' });
  const hub = new Hub({ maxEvents: config.wsBufferEvents, maxBytes: config.wsBufferBytes }, slowConsumerLogger(wsLog));
  const delivery = new DeliveryClient({ dbPath: backend.deliveryDbPath, timeoutMs: WEBHOOK_TIMEOUT_MS, maxReplyBytes: WEBHOOK_MAX_REPLY_BYTES, maxSockets: WEBHOOK_MAX_SOCKETS, nice: WEBHOOK_THREAD_NICE, maxInFlight: WEBHOOK_MAX_CONCURRENT + 16, log: log.child({ component: 'webhooks' }) });
  undo.push(() => delivery.close());
  const dispatcher = new WebhookDispatcher(readers.webhooks, writer, delivery, {
    retryBaseMs: config.webhookRetryBaseMs,
    retryMaxMs: config.webhookRetryMaxMs,
    maxAttempts: config.webhookMaxAttempts,
    handBodies: backend.deliveryDbPath === '',
    log: log.child({ component: 'webhooks' }),
  });
  const onPublished = () => dispatcher.kick();
  const fanout = await backend.fanout(readers, hub, { log: log.child({ component: 'events' }), onPublished });
  undo.push(() => fanout.stop?.());
  const events = new EventService(readers.events, writer, fanout, { retention: config.eventRetention, log: log.child({ component: 'events' }), onPublished });
  const publish = (topic: string, data: string, source: string) => events.publish(topic, data, source);
  const webhooks = new WebhookService(readers.webhooks, writer, delivery, () => dispatcher.refresh());
  const audit = new AuditService(readers.audit);
  const agentMetrics = new AgentMetrics(readers.agentMetrics, writer, log.child({ component: 'agent-metrics' }));
  const llm = new LlmService(readers.llm, writer, publish);
  const retention = new Retention(writer, {
    intervalMs: config.pruneIntervalMs,
    stateHistoryKeep: config.stateHistoryKeep,
    pruneEvents: () => events.prune(),
    auditRetentionMs: config.auditRetentionMs,
    agentMetricsRetentionMs: config.agentMetricsRetentionMs,
    llmRetentionMs: config.llmRetentionMs,
    size: () => backend.size(),
    log: log.child({ component: 'retention' }),
  });
  const announce = (list: readonly Event[]) => events.announce(list);
  const instances = new InstanceService(readers.instances, writer, log.child({ component: 'instances' }), announce, backend.othersWrite);
  auth.setResolvers(instances.resolveToken, instances.resolveInstance, (id) => instances.seen(id));
  const liveness = new LivenessMonitor(instances, {
    intervalMs: config.livenessIntervalMs,
    timeoutMs: config.livenessTimeoutMs,
    log: log.child({ component: 'liveness' }),
  });
  const leases = new LeaseService(readers.leases, writer, announce, { checkEveryMs: LEASE_EXPIRY_CHECK_MS, log: log.child({ component: 'leases' }) });
  const tasks = new TaskService(readers.tasks, writer, announce);
  const contracts = new ContractService(specs, pool);
  const compliance = new ComplianceService(readers.compliance, writer, pool, instances, specs, publish, {
    intervalMs: config.complianceIntervalMs,
    keep: config.complianceKeep,
    log: log.child({ component: 'compliance' }),
  });

  const admin = new AdminService({ snapshots: backend.snapshots, timeoutMs: BACKUP_TIMEOUT_MS, restoreMaxBytes: RESTORE_MAX_BYTES, log: log.child({ component: 'admin' }), ...(opts.onRestore ? { onRestore: opts.onRestore } : {}) });

  let apiBindText = config.bind.text;
  const mcpLog = log.child({ component: 'mcp' });
  // get_endpoints advertises only what is mounted: the REST routes below plus the WebSocket route.
  const mounted = () => [...routes, { method: 'GET', path: SUBSCRIBE_PATH }];
  const mcp = new McpGateway({ instances, rules, apiBind: () => apiBindText, mounted }, { idleMs: config.mcpSessionIdleMs, log: mcpLog });
  undo.push(() => mcp.close());

  const http = new HttpMetrics();
  const metrics = new Metrics();
  defineKoorMetrics(metrics, {
    http,
    counters,
    startedAt,
    stateKeys: () => state.count(),
    instances: () => instances.count(),
    leases: () => leases.count(),
    lastEventId: () => events.lastId(),
    mcpSessions: () => mcp.sessionCount,
    cache: state.cache,
    writer,
    pool,
    hub,
    webhooks: dispatcher,
    retention,
    compliance,
    cluster: backend.leader,
  });

  const routes: Route[] = [
    ...systemRoutes({
      startedAt,
      bootId,
      counters,
      apiBind: config.bind.text,
      dashboardBind: config.dashboardBind?.text ?? '',
      metrics,
      figures: (v) => apiFigures(v, config),
    }),
    ...stateRoutes(state),
    ...specRoutes(specs),
    ...ruleRoutes(rules),
    ...templateRoutes(templates),
    ...eventRoutes(events),
    ...instanceRoutes(instances, liveness),
    ...leaseRoutes(leases),
    ...taskRoutes(tasks),
    ...contractRoutes(contracts),
    ...complianceRoutes(compliance),
    ...webhookRoutes(webhooks),
    ...auditRoutes(audit),
    ...agentMetricRoutes(agentMetrics),
    ...llmRoutes(llm),
    ...adminRoutes(admin, bootId),
  ];

  const httpLog = log.child({ component: 'http' });
  // The dashboard's built client app (SPEC §7-21), read once when the listener is on.
  const dashboardAssets = config.dashboardBind ? DashboardAssets.load(opts.dashboardDir ?? defaultDashboardDir()) : null;
  if (dashboardAssets?.missing) log.warn(dashboardAssets.missing);
  /**
   * Both listeners serve /health and all of /api/* (REST + event subscriptions) alike; the
   * dashboard listener serves the dashboard's page and assets too.
   */
  const mountApi = (app: Slots, viaDashboard: boolean): void => {
    if (viaDashboard && dashboardAssets) mountDashboard(app, dashboardAssets, { log: httpLog, http });
    mountSubscribe(app, { auth, hub, events, maxBytes: config.wsBufferBytes, log: wsLog });
    mount(app, routes, {
      auth,
      log: httpLog,
      maxBodyBytes: config.maxBodyBytes,
      viaDashboard,
      // Dashboard-served calls are not counted (SPEC §1.8).
      onCall: viaDashboard
        ? undefined
        : (ctx) => {
            counters.rest++;
            // An identified agent's calls and writes count in its own metrics (SPEC §8.4).
            if (ctx.identity) {
              const id = ctx.identity.instanceId;
              agentMetrics.add(id, 'rest_calls');
              ctx.tally = (name, n = 1) => agentMetrics.add(id, name, n);
            }
          },
      extra: viaDashboard ? [{ method: 'GET', path: SUBSCRIBE_PATH }, ...DASHBOARD_ROUTES] : [{ method: 'GET', path: SUBSCRIBE_PATH }],
      http,
    });
  };
  const reuse = opts.front ?? null;
  const api = reuse?.api ?? new Slots(uWS.App());
  let apiBase = '';
  mountMcp(api, { auth, gateway: mcp, maxBodyBytes: config.maxBodyBytes, log: mcpLog, onCall: (ctx) => {
      counters.mcp++;
      if (ctx.identity) agentMetrics.add(ctx.identity.instanceId, 'mcp_calls');
    }, baseUrl: () => apiBase, http });
  mountApi(api, false);
  let front: Front;
  if (reuse) {
    if (reuse.dash) mountApi(reuse.dash, true);
    front = reuse;
  } else {
    const sockets: uWS.us_listen_socket[] = [];
    try {
      const l = await listen(api.app, config.bind, 'API');
      sockets.push(l.socket);
      let dash: Slots | null = null;
      let dashboardPort: number | null = null;
      if (config.dashboardBind) {
        dash = new Slots(uWS.App());
        mountApi(dash, true);
        const d = await listen(dash.app, config.dashboardBind, 'dashboard');
        sockets.push(d.socket);
        dashboardPort = d.port;
      }
      front = { api, dash, sockets, port: l.port, dashboardPort };
    } catch (e) {
      for (const s of sockets) uWS.us_listen_socket_close(s);
      throw e; // startServer undoes the rest
    }
  }
  const { port, dashboardPort } = front;
  apiBase = `http://${hostForUrl(config.bind)}:${port}`;
  // An ephemeral port (":0") is useless to agents: tell them the port actually bound.
  if (config.bind.port === 0) apiBindText = config.bind.text.replace(/:0$/, `:${port}`);

  // The background jobs run once per deployment: here, or on the elected node of a cluster.
  const jobs: Job[] = [retention, liveness, leases, compliance, dispatcher];
  await backend.startJobs(jobs, {
    forget: (id) => instances.forget(id),
    // Another node's restore replaced the database: like a restart on a restore, subscribers
    // resume with since= on the new log and identities are read anew.
    restored: () => {
      log.warn('the database was restored from a backup: subscribers closed to resume, identities reloaded');
      fanout.reset?.();
      hub.closeAll(1012, 'data restored from a backup: resume with since=');
      instances.reload();
    },
  });
  agentMetrics.start();
  let closing: Promise<void> | null = null;
  const close = (closeOpts: { restart?: boolean } = {}): Promise<void> =>
    (closing ??= (async () => {
      // Stop accepting, let in-flight writes commit and their replies go out, then close. For a
      // restart the listeners stay: new requests get 503 (retry) until the next generation mounts.
      if (closeOpts.restart) {
        const restarting = (res: uWS.HttpResponse, req: uWS.HttpRequest) => sendError(createCtx(res, req, 0, false), unavailable('server is restarting on a restored backup; retry'), httpLog);
        front.api.park(restarting);
        front.dash?.park(restarting);
      } else {
        for (const s of front.sockets) uWS.us_listen_socket_close(s);
      }
      await backend.stopJobs();
      retention.stop();
      liveness.stop();
      leases.stop();
      compliance.stop();
      agentMetrics.stop();
      await dispatcher.stop();
      await fanout.stop?.();
      await delivery.close();
      await writer.drain(SHUTDOWN_GRACE_MS);
      // Counts made up to now reach the file before the writer closes.
      await agentMetrics.flush();
      if (closeOpts.restart) hub.closeAll(1012, 'server restarting: resume with since=');
      else hub.closeAll(1001, 'server shutting down');
      await mcp.close();
      await new Promise((r) => setImmediate(r));
      if (!closeOpts.restart) for (const slots of [front.api, front.dash]) (slots?.app as unknown as { close(): void } | undefined)?.close();
      await writer.close(SHUTDOWN_GRACE_MS);
      try {
        await pool.close();
      } finally {
        await backend.close();
      }
      log.info('stopped');
    })());

  const server: KoorServer = {
    config,
    port,
    dashboardPort,
    url: `http://${hostForUrl(config.bind)}:${port}`,
    dashboardUrl: config.dashboardBind && dashboardPort !== null ? `http://${hostForUrl(config.dashboardBind)}:${dashboardPort}` : null,
    writer,
    pool,
    hub,
    events,
    instances,
    liveness,
    retention,
    mcp,
    webhooks: dispatcher,
    agentMetrics,
    metrics,
    log,
    bootId,
    front,
    cluster: backend.leader,
    close,
  };
  log.info({ api: `${config.bind.host}:${port}`, dashboard: dashboardPort === null ? 'off' : `${config.dashboardBind!.host}:${dashboardPort}`, ...backend.logFields, auth: auth.enabled }, 'koor-server listening');
  return server;
}
