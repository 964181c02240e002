import type { InstanceService } from '../instances/service.js';
import type { SpecService } from '../specs/service.js';
import type { Domain, Platform } from '../domain.js';
import { complianceRoutes } from './routes.js';
import { ComplianceService, type Publish } from './service.js';

/** Compliance runs: each agent's contracts checked on a schedule, the history kept per (agent, contract). */
export function complianceDomain(p: Platform, d: { instances: InstanceService; specs: SpecService; publish: Publish }): Domain & { compliance: ComplianceService } {
  const compliance = new ComplianceService(p.readers.compliance, p.writer, p.pool, d.instances, d.specs, d.publish, {
    intervalMs: p.config.complianceIntervalMs,
    keep: p.config.complianceKeep,
    log: p.log.child({ component: 'compliance' }),
  });
  return {
    compliance,
    routes: complianceRoutes(compliance),
    jobs: [compliance],
    metrics(m) {
      m.counter('koor_compliance_passes_total', 'Compliance passes run.', () => compliance.stats.passes);
      m.counter('koor_compliance_runs_recorded_total', 'Compliance runs recorded.', () => compliance.stats.runs_recorded);
    },
  };
}
