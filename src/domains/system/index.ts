import type { Metrics, MetricsSnapshot } from '../../metrics/registry.js';
import type { Domain, Platform } from '../domain.js';
import type { Presence } from '../instances/presence.js';
import type { CallCounters } from './metrics.js';
import { Retention } from './retention.js';
import { systemRoutes, type SystemDeps } from './routes.js';

/** /health and the metrics routes, and retention: every table that grows is pruned on a schedule. */
export function systemDomain(
  p: Platform,
  d: {
    presence: Presence;
    /** Milliseconds since the server started, on the monotonic clock. */
    uptimeMs: () => number;
    bootId: string;
    counters: CallCounters;
    metrics: Metrics;
    figures: (v: MetricsSnapshot) => Record<string, unknown>;
    /** Every route the server serves (the API description reads them on its first request). */
    api: SystemDeps['api'];
    pruneEvents: () => Promise<number>;
    /** Compliance runs pruned (compliance keeps its own history bounded; its count is reported with retention's). */
    compliancePruned: () => number;
  },
): Domain & { retention: Retention } {
  const c = p.config;
  const retention = new Retention(p.writer, { ...c, pruneEvents: d.pruneEvents, size: () => p.backend.size(), log: p.log.child({ component: 'retention' }) });
  const routes = systemRoutes({ presence: d.presence, storageFull: () => p.writer.storageFull, uptimeMs: d.uptimeMs, bootId: d.bootId, counters: d.counters, apiBind: c.bind.text, dashboardBind: c.dashboardBind?.text ?? '', metrics: d.metrics, figures: d.figures, api: d.api });
  const r = retention.stats;
  /** Tables pruned, as the `table` label, and where each count is kept. */
  const pruned: ReadonlyArray<[string, () => number]> = [
    ['events', () => r.events_pruned],
    ['state_history', () => r.state_history_pruned],
    ['audit_log', () => r.audit_pruned],
    ['agent_metrics', () => r.agent_metrics_pruned],
    ['llm_usage', () => r.llm_usage_pruned],
    ['messages', () => r.messages_pruned],
    ['tasks', () => r.tasks_pruned],
    ['idempotency_keys', () => r.idempotency_keys_pruned],
    ['api_tokens', () => r.tokens_pruned],
    ['hook_sessions_ended', () => r.hook_sessions_ended_pruned],
    ['compliance_runs', () => d.compliancePruned() + r.compliance_runs_pruned],
  ];
  return {
    retention,
    routes,
    jobs: [retention],
    metrics(m) {
      m.counter('koor_retention_passes_total', 'Retention passes completed.', () => r.passes);
      m.labeled('koor_retention_pruned_total', 'Rows removed by retention, by table.', 'counter', () => pruned.map(([table, read]) => ({ labels: { table }, value: read() })));
      m.gauge('koor_retention_last_pass_seconds', 'Duration of the last retention pass.', () => r.last_pass_ms / 1000);
      m.counter('koor_vacuumed_pages_total', 'Free pages returned to the file system.', () => r.vacuumed_pages);
      m.gauge('koor_data_file_free_pages', 'Free pages in the data file after the last pass.', () => r.free_pages);
      m.gauge('koor_data_file_bytes', 'Size of the stored data: data.db plus its WAL, or the PostgreSQL database in cluster mode.', () => retention.fileBytes());
    },
  };
}
