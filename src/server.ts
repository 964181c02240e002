import { randomUUID } from 'node:crypto';
import type { AppOptions } from 'uWebSockets.js';
import type { Backend } from './backend/backend.js';
import { chooseBackend } from './backend/choose.js';
import { Hub } from './bus/hub.js';
import { ConfigError, type Config } from './config.js';
import { adminDomain } from './domains/admin/index.js';
import { agentMetricsDomain } from './domains/agent-metrics/index.js';
import { auditDomain } from './domains/audit/index.js';
import { complianceDomain } from './domains/compliance/index.js';
import { contractsDomain } from './domains/contracts/index.js';
import type { Domain, Platform } from './domains/domain.js';
import { readersOf } from './domains/readers.js';
import { eventsDomain } from './domains/events/index.js';
import { hooksDomain } from './domains/hooks/index.js';
import { instancesDomain } from './domains/instances/index.js';
import { Presence, presenceTolerance } from './domains/instances/presence.js';
import { leasesDomain } from './domains/leases/index.js';
import { llmDomain } from './domains/llm/index.js';
import { messagesDomain } from './domains/messages/index.js';
import { rulesDomain } from './domains/rules/index.js';
import { specsDomain } from './domains/specs/index.js';
import { stateDomain, txnDomain } from './domains/state/index.js';
import { systemDomain } from './domains/system/index.js';
import { CallCounters } from './domains/system/metrics.js';
import { tasksDomain } from './domains/tasks/index.js';
import { templatesDomain } from './domains/templates/index.js';
import { tokensDomain } from './domains/tokens/index.js';
import { webhooksDomain } from './domains/webhooks/index.js';
import { Authenticator } from './front/auth.js';
import { openFront } from './front/front.js';
import { RateLimiter } from './front/rate-limit.js';
import { assertNativeUws, exposedWithoutToken, hostForUrl, urlScheme } from './front/listen.js';
import { tlsOptions } from './front/tls.js';
import { createLogger, type Logger } from './log.js';
import { McpGateway } from './mcp/gateway.js';
import { HttpMetrics } from './metrics/http.js';
import { apiFigures, defineKoorMetrics } from './metrics/koor.js';
import { Metrics } from './metrics/registry.js';
import { startThreads } from './rpc/threads.js';
import { closer } from './shutdown.js';
import { PRESENCE_PROBE_MS } from './shared/limits-features.js';
import type { KoorServer, StartOptions } from './server-api.js';
import { slowConsumerLogger } from './ws/subscribe.js';

export type { Front } from './front/listen.js';
export type { KoorServer, StartOptions } from './server-api.js';

/** Composition root: config → backend → writer and pool threads → domains → listeners. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<KoorServer> {
  assertNativeUws();
  // Bad TLS files are reported before anything is opened (the database, its lock). A live
  // restore keeps its listeners, certificate included: the files are not needed (nor read) again.
  const tls = opts.front ? null : tlsOptions(config);
  const log = opts.log ?? createLogger(config.logLevel);
  // SQLite: one server per data directory (as per port), locked until close().
  const backend = await chooseBackend(config);
  // What start-up has opened so far, undone in reverse if a later step fails.
  const undo: Array<() => unknown> = [() => backend.close()];
  try {
    return await startOn(backend, config, log, undo, opts, tls);
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

async function startOn(backend: Backend, config: Config, log: Logger, undo: Array<() => unknown>, opts: StartOptions, tls: AppOptions | null): Promise<KoorServer> {
  const bootId = randomUUID();
  // On the monotonic clock: a wall-clock step (NTP, a VM resume) neither adds to uptime nor makes it negative.
  const started = performance.now();
  const uptimeMs = (): number => performance.now() - started;
  const { writer, pool } = await startThreads(backend, config, log, undo);
  // The domains' readers over the read side the backend opened (a statement that does not prepare fails here too).
  const { side, readers } = await backend
    .open(log)
    .then((side) => {
      // A SQLite read of a turn shares its read transaction until a writer reply lands (src/backend/reads.ts).
      if (side.kind === 'sqlite') writer.beforeReplies(side.snapshot.wrote);
      return { side, readers: readersOf(side, config.readDeadlineMs) };
    })
    .catch((e: unknown) => {
      throw new ConfigError(`failed to open database ${backend.label}: ${(e as Error).message}`);
    });
  const hub = new Hub({ maxEvents: config.wsBufferEvents, maxBytes: config.wsBufferBytes }, slowConsumerLogger(log.child({ component: 'ws' })));
  const p: Platform = { config, log, writer, pool, backend, readers, hub };
  const counters = new CallCounters();
  const metrics = new Metrics();

  // The domains, each given what it needs of the others.
  const state = stateDomain(p);
  const specs = specsDomain(p);
  specs.specs.onChange = () => state.feed.poke();
  const rules = rulesDomain(p);
  const webhooks = webhooksDomain(p);
  undo.push(() => webhooks.close?.());
  const events = await eventsDomain(p, { onPublished: webhooks.kick });
  undo.push(() => events.close?.());
  // The server's own presence: liveness and lease TTLs are not judged against its absence.
  const presence = new Presence({ probeMs: PRESENCE_PROBE_MS, toleranceMs: presenceTolerance(config.livenessTimeoutMs), graceMs: config.livenessTimeoutMs });
  const instances = instancesDomain(p, { presence, shiftLeases: (ms) => leases.leases.shift(ms), leading: () => backend.leader?.isLeader ?? true });
  const leases = leasesDomain(p, { settled: () => instances.liveness.settled() });
  const agentMetrics = agentMetricsDomain(p);
  const compliance = complianceDomain(p, { instances: instances.instances, specs: specs.specs, publish: events.publish });
  const system = systemDomain(p, { presence, uptimeMs, bootId, counters, metrics, figures: (v) => apiFigures(v, config), api: () => ({ routes, sockets }), pruneEvents: () => events.events.prune(), compliancePruned: () => compliance.compliance.stats.runs_pruned });
  const templates = templatesDomain(p, { rules: rules.rules, specs: specs.specs });
  const llm = llmDomain(p);
  const [tasks, contracts, audit] = [tasksDomain(p, { budgetRefusing: (agent, project) => llm.llm.refusing(agent, project) }), contractsDomain(p, { specs: specs.specs }), auditDomain(p)];
  const messages = messagesDomain(p);
  const txn = txnDomain({ state: state.state });
  const hooks = hooksDomain(p, { leases: leases.leases, instances: instances.instances });
  const admin = adminDomain(p, { bootId, ...(opts.onRestore ? { onRestore: opts.onRestore } : {}) });
  const tokens = tokensDomain(p);
  const domains: Domain[] = [system, state, txn, specs, rules, templates, events, instances, leases, tasks, messages, hooks, contracts, compliance, webhooks, audit, agentMetrics, llm, tokens, admin];
  const routes = domains.flatMap((d) => d.routes);
  const sockets = domains.flatMap((d) => d.sockets ?? []);
  const jobs = domains.flatMap((d) => d.jobs ?? []);

  const auth = new Authenticator(config.authToken);
  const ids = instances.instances;
  // A created token (`koor_…`) or an instance token: each asks its own index.
  const created = tokens.tokens;
  auth.setResolvers((a) => (created.owns(a) ? created.resolve(a) : ids.resolveToken(a)), ids.resolveInstance, (id) => ids.seen(id));
  let apiBind = config.bind.text;
  // get_endpoints advertises only what is mounted: the REST routes plus the WebSocket route.
  const mcp = new McpGateway({ instances: ids, rules: rules.rules, apiBind: () => apiBind, scheme: urlScheme(config), onDenied: audit.denials.record, mounted: () => [...routes, ...sockets] }, { idleMs: config.mcpSessionIdleMs, maxSessions: config.mcpMaxSessions, perPrincipal: config.mcpSessionsPerToken, log: log.child({ component: 'mcp' }) });
  undo.push(() => mcp.close());
  const http = new HttpMetrics();
  defineKoorMetrics(metrics, { http, counters, uptimeMs, mcpSessions: () => mcp.sessionCount, writer, pool, hub, cluster: backend.leader });
  for (const d of domains) d.metrics?.(metrics);

  const limiter = new RateLimiter({ perSecond: config.rateLimit, burst: config.rateBurst > 0 ? config.rateBurst : 2 * config.rateLimit, limitAdmin: config.rateLimitAdmin === 1 });
  metrics.counter('koor_db_reads_total', "Read statements this node's readers ran (on PostgreSQL each a round trip; the event log's own reads not counted).", () => readers.reads.statements());
  if (side.kind === 'sqlite') {
    const { map } = side;
    metrics.gauge('koor_reader_mapped', "Whether the front's SQLite reader maps the data file now: while its reads outnumber the writes it sees 100 to 1, or the writes are fewer than 20 a second.", () => (map.mapped ? 1 : 0));
    metrics.counter('koor_reader_map_switches_total', "Times the front's SQLite reader began or stopped mapping the data file.", () => map.switches);
  }
  metrics.gauge('koor_storage_full', 'Whether the disk holding the database is full: the last write failed for it and none succeeded since; writes answer 507.', () => (writer.storageFull ? 1 : 0));
  metrics.counter('koor_mcp_sessions_evicted_total', 'MCP sessions closed to make room for a new one: past their token\'s or agent\'s cap, or the least recently used at the global cap.', () => mcp.evicted);
  metrics.counter('koor_rate_limited_total', 'Requests refused with 429: past their token\'s rate.', () => limiter.limited);
  const front = await openFront({ config, log, auth, routes, sockets, onDenied: audit.denials.record, limiter, mcp, counters, agentMetrics: agentMetrics.agentMetrics, http, reuse: opts.front ?? null, tls, ...(opts.dashboardDir ? { dashboardDir: opts.dashboardDir } : {}) });
  const { port, dashboardPort } = front;
  // An ephemeral port (":0") is useless to agents: tell them the port actually bound.
  if (config.bind.port === 0) apiBind = config.bind.text.replace(/:0$/, `:${port}`);

  await backend.startJobs(jobs, {
    forget: (id) => ids.forget(id),
    revoked: (id) => created.forget(id),
    // Another node's restore replaced the database: like a restart on a restore, subscribers
    // resume with since= on the new log and identities are read anew.
    restored: () => {
      log.warn('the database was restored from a backup: subscribers closed to resume, identities reloaded');
      events.resetFeed();
      hub.closeAll(1012, 'data restored from a backup: resume with since=');
      ids.reload();
      created.reload();
    },
  });
  for (const d of domains) d.start?.();

  const close = closer({ front, backend, jobs, domains, writer, pool, hub, mcp, log });

  const scheme = urlScheme(config);
  const url = `${scheme}://${hostForUrl(config.bind)}:${port}`;
  for (const bind of exposedWithoutToken(config)) log.warn({ bind }, 'listening on a non-loopback address without --auth-token: anyone who can reach it acts as the operator');
  log.info({ api: `${config.bind.host}:${port}`, dashboard: dashboardPort === null ? 'off' : `${config.dashboardBind!.host}:${dashboardPort}`, url, ...backend.logFields, auth: auth.enabled }, 'koor-server listening');
  return {
    config,
    port,
    dashboardPort,
    url,
    dashboardUrl: config.dashboardBind && dashboardPort !== null ? `${scheme}://${hostForUrl(config.dashboardBind)}:${dashboardPort}` : null,
    writer,
    pool,
    hub,
    stateFeed: state.feed,
    events: events.events,
    instances: ids,
    liveness: instances.liveness,
    retention: system.retention,
    mcp,
    webhooks: webhooks.dispatcher,
    agentMetrics: agentMetrics.agentMetrics,
    metrics,
    log,
    bootId,
    front,
    routes,
    sockets,
    cluster: backend.leader,
    close,
  };
}
