import { CLOSE_REASONS } from '../bus/closes.js';
import { CHECKPOINT_KINDS } from '../../schemas/rpc/writer-stats.js';
import type { Hub } from '../bus/hub.js';
import type { PoolClient } from '../rpc/pool-client.js';
import type { WriterClient } from '../rpc/writer-client.js';
import type { HttpMetrics } from './http.js';
import type { Metrics, MetricsSnapshot } from './registry.js';

/** The components whose figures the registry reads (each domain adds its own: Domain.metrics). */
export interface MetricSources {
  http: HttpMetrics;
  /** The token-tax call counts (src/domains/system/metrics.ts CallCounters). */
  counters: { readonly rest: number; readonly mcp: number };
  /** Milliseconds since the server started, on the monotonic clock. */
  uptimeMs: () => number;
  mcpSessions: () => number;
  writer: WriterClient;
  pool: PoolClient;
  hub: Hub;
  /** Cluster mode's node (absent on SQLite). */
  cluster?: { readonly isLeader: boolean } | null;
}

/** The server's own metrics, defined once (names follow Prometheus conventions); the domains define theirs. */
export function defineKoorMetrics(m: Metrics, s: MetricSources): void {
  const { writer, pool, hub } = s;
  // HTTP (REST, MCP): by route pattern, never by URL.
  m.labeled('koor_http_requests_total', 'HTTP requests answered, by method, route pattern and status.', 'counter', () => s.http.requests());
  m.histogram('koor_http_request_duration_seconds', 'Time from request to reply written (to the first byte for streams).', () => s.http.latency());
  m.counter('koor_rest_calls_total', 'REST calls counted for the token-tax figures; zeroed by POST /api/metrics/reset.', () => s.counters.rest);
  m.counter('koor_mcp_calls_total', 'MCP calls counted for the token-tax figures; zeroed by POST /api/metrics/reset.', () => s.counters.mcp);
  m.gauge('koor_uptime_seconds', 'Seconds since the server started.', () => Math.floor(s.uptimeMs() / 1000));
  m.gauge('koor_mcp_sessions', 'Open MCP sessions.', s.mcpSessions);
  const cluster = s.cluster;
  if (cluster) m.gauge('koor_cluster_leader', 'Cluster mode: 1 while this node is the elected one running the background jobs.', () => (cluster.isLeader ? 1 : 0));
  // The single writer.
  m.counter('koor_writer_calls_total', 'Writer RPC calls made.', () => writer.stats.calls);
  m.gauge('koor_writer_queue_depth', 'Writer calls in flight (sent, not yet answered).', () => writer.stats.inFlight);
  m.counter('koor_writer_restarts_total', 'Times the writer thread died and was restarted.', () => writer.stats.restarts);
  m.histogram('koor_writer_batch_size', 'Writes committed per transaction (group commit).', () => [{ labels: {}, h: writer.batches.batchSizes() }]);
  m.histogram('koor_writer_commit_seconds', 'Time to run and commit one batch.', () => [{ labels: {}, h: writer.batches.commitSeconds() }]);
  m.counter('koor_writer_commit_failures_total', 'Batches whose transaction failed (nothing in them acknowledged).', () => writer.batches.commitFailures);
  m.labeled('koor_writer_checkpoints_total', 'SQLite WAL checkpoints, by where they ran: the checkpointer thread (background), the few frames left after one, in the writer (tail), all of it in the writer (inline: the WAL past 4x its limit).', 'counter', () =>
    CHECKPOINT_KINDS.map((kind) => ({ labels: { kind }, value: writer.batches.checkpoints(kind) })),
  );
  m.labeled('koor_writer_heap_bytes', "The writer thread's V8 heap (used, total), as it last took it (after a batch, at most once a second); the front's is nodejs_heap_size_*.", 'gauge', () => {
    const h = writer.batches.heap;
    return [
      { labels: { kind: 'used' }, value: h.used },
      { labels: { kind: 'total' }, value: h.total },
    ];
  });
  m.labeled('koor_rpc_deadline_exceeded_total', 'Calls that exceeded their deadline, by target.', 'counter', () => [
    { labels: { target: 'writer' }, value: writer.stats.deadlineExceeded },
    { labels: { target: 'pool' }, value: pool.stats.timeouts },
  ]);
  m.counter('koor_writer_outcome_unknown_total', 'Writes answered 504 outcome unknown: begun by the writer, no reply (it died, or stalled past the grace); they may have committed.', () => writer.stats.outcomeUnknown);
  m.labeled('koor_rpc_rejected_total', 'Calls refused because the target queue was full, by target.', 'counter', () => [
    { labels: { target: 'writer' }, value: writer.stats.rejectedFull },
    { labels: { target: 'pool' }, value: pool.stats.rejectedFull },
  ]);
  // The worker pool (validation, compliance, diff).
  m.counter('koor_pool_jobs_total', 'Jobs sent to the worker pool.', () => pool.stats.jobs);
  m.gauge('koor_pool_queue_depth', 'Jobs waiting for a pool thread.', () => pool.queueSize);
  // Event subscribers.
  m.gauge('koor_ws_subscribers', 'Open WebSocket event subscriptions.', () => hub.stats.subscribers);
  m.gauge('koor_ws_queued_bytes', 'Event bytes queued for slow subscribers.', () => hub.queuedBytes());
  m.counter('koor_events_delivered_total', 'Events written to subscribers.', () => hub.stats.delivered);
  m.counter('koor_events_replayed_total', 'Events sent to subscribers from history (since=).', () => hub.stats.replayed);
  m.counter('koor_events_dropped_total', 'Events dropped for subscribers past their buffer (policy drop).', () => hub.stats.dropped);
  m.counter('koor_ws_closed_slow_total', 'Subscribers disconnected for not reading (policy close).', () => hub.stats.closed_slow);
  m.labeled('koor_ws_closed_total', 'Subscriber sockets the server closed, by reason (src/bus/closes.ts gives the close code of each).', 'counter', () => CLOSE_REASONS.map((reason) => ({ labels: { reason }, value: hub.stats.closes[reason] })));
}

/**
 * The figures `GET /api/metrics` adds to the original's fields, read from the registry by name so
 * the JSON and the Prometheus text can never disagree.
 */
export function apiFigures(v: MetricsSnapshot, settings: { stateHistoryKeep: number; eventRetention: number; complianceKeep: number }): Record<string, unknown> {
  const pruned = (table: string) => v('koor_retention_pruned_total', { table });
  return {
    state_keys: v('koor_state_keys'),
    instances: v('koor_instances'),
    last_event_id: v('koor_last_event_id'),
    mcp_sessions: v('koor_mcp_sessions'),
    events: {
      subscribers: v('koor_ws_subscribers'),
      delivered: v('koor_events_delivered_total'),
      dropped: v('koor_events_dropped_total'),
      closed_slow: v('koor_ws_closed_slow_total'),
      replayed: v('koor_events_replayed_total'),
      queued_bytes: v('koor_ws_queued_bytes'),
    },
    writer: {
      calls: v('koor_writer_calls_total'),
      queue_depth: v('koor_writer_queue_depth'),
      restarts: v('koor_writer_restarts_total'),
      commit_failures: v('koor_writer_commit_failures_total'),
      checkpoints_background: v('koor_writer_checkpoints_total', { kind: 'background' }),
      checkpoints_tail: v('koor_writer_checkpoints_total', { kind: 'tail' }),
      checkpoints_inline: v('koor_writer_checkpoints_total', { kind: 'inline' }),
      deadline_exceeded: v('koor_rpc_deadline_exceeded_total', { target: 'writer' }),
      rejected_full: v('koor_rpc_rejected_total', { target: 'writer' }),
    },
    pool: {
      jobs: v('koor_pool_jobs_total'),
      queue_depth: v('koor_pool_queue_depth'),
      timeouts: v('koor_rpc_deadline_exceeded_total', { target: 'pool' }),
      rejected_full: v('koor_rpc_rejected_total', { target: 'pool' }),
    },
    cache: { hits: v('koor_state_cache_hits_total'), misses: v('koor_state_cache_misses_total'), bytes: v('koor_state_cache_bytes') },
    webhooks: {
      delivered: v('koor_webhook_deliveries_total', { outcome: 'delivered' }),
      failed: v('koor_webhook_deliveries_total', { outcome: 'failed' }),
      dropped: v('koor_webhook_deliveries_total', { outcome: 'dropped' }),
      disabled: v('koor_webhooks_disabled_total'),
      pending: v('koor_webhook_pending_events'),
    },
    data_file_bytes: v('koor_data_file_bytes'),
    retention: {
      state_history_keep: settings.stateHistoryKeep,
      event_retention: settings.eventRetention,
      passes: v('koor_retention_passes_total'),
      events_pruned: pruned('events'),
      state_history_pruned: pruned('state_history'),
      audit_pruned: pruned('audit_log'),
      agent_metrics_pruned: pruned('agent_metrics'),
      llm_usage_pruned: pruned('llm_usage'),
      vacuumed_pages: v('koor_vacuumed_pages_total'),
      free_pages: v('koor_data_file_free_pages'),
      last_pass_ms: Math.round(v('koor_retention_last_pass_seconds') * 1000),
      compliance_keep: settings.complianceKeep,
      compliance_runs_pruned: pruned('compliance_runs'),
    },
  };
}
