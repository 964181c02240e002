import type { Domain, Platform } from '../domain.js';
import { agentMetricRoutes } from './routes.js';
import { AgentMetrics } from './service.js';

/**
 * Per-agent call and write counts, bucketed by hour in memory and flushed by every
 * node (not a leader's job: each node counts its own calls); the last counts reach the database
 * before the writer closes.
 */
export function agentMetricsDomain(p: Platform): Domain & { agentMetrics: AgentMetrics } {
  const agentMetrics = new AgentMetrics(p.readers.agentMetrics, p.writer, p.log.child({ component: 'agent-metrics' }));
  return {
    agentMetrics,
    routes: agentMetricRoutes(agentMetrics),
    start: () => agentMetrics.start(),
    async close() {
      await agentMetrics.stop();
      await agentMetrics.flush();
    },
  };
}
