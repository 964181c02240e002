import type { Metrics, MetricsSnapshot } from '../../metrics/registry.js';
import type { Domain, Platform } from '../domain.js';
import type { CallCounters } from './metrics.js';
import { Retention } from './retention.js';
import { systemRoutes } from './routes.js';

/** /health and the metrics routes (SPEC §2.14), and retention: every table that grows is pruned on a schedule (SPEC §8.10). */
export function systemDomain(
  p: Platform,
  d: { startedAt: number; bootId: string; counters: CallCounters; metrics: Metrics; figures: (v: MetricsSnapshot) => Record<string, unknown>; pruneEvents: () => Promise<number> },
): Domain & { retention: Retention } {
  const c = p.config;
  const retention = new Retention(p.writer, {
    intervalMs: c.pruneIntervalMs,
    stateHistoryKeep: c.stateHistoryKeep,
    pruneEvents: d.pruneEvents,
    auditRetentionMs: c.auditRetentionMs,
    agentMetricsRetentionMs: c.agentMetricsRetentionMs,
    llmRetentionMs: c.llmRetentionMs,
    size: () => p.backend.size(),
    log: p.log.child({ component: 'retention' }),
  });
  const routes = systemRoutes({ startedAt: d.startedAt, bootId: d.bootId, counters: d.counters, apiBind: c.bind.text, dashboardBind: c.dashboardBind?.text ?? '', metrics: d.metrics, figures: d.figures });
  return { retention, routes, jobs: [retention] };
}
