import { LEASE_EXPIRY_CHECK_MS } from '../../shared/limits-features.js';
import type { Domain, Platform } from '../domain.js';
import { leaseRoutes } from './routes.js';
import { LeaseService } from './service.js';
import { projectOf } from '../../shared/workspace.js';
import { then } from '../../shared/awaitable.js';

/** Leases on path globs, and the job that releases those past their TTL. */
export function leasesDomain(p: Platform, d: { settled?: () => Promise<void> }): Domain & { leases: LeaseService } {
  const leases = new LeaseService(p.readers.leases, p.writer, {
    checkEveryMs: LEASE_EXPIRY_CHECK_MS,
    log: p.log.child({ component: 'leases' }),
    ...(d.settled ? { settled: d.settled } : {}),
    // An agent's project is its workspace's (a hook session's agent registers with its project as workspace).
    projectOf: (id) => then(p.readers.instances.get(id), (i) => projectOf(i?.workspace ?? '')),
  });
  return {
    leases,
    routes: leaseRoutes(leases),
    jobs: [leases],
    metrics: (m) => m.gauge('koor_leases', 'Live leases: taken, not released, not past their TTL.', () => leases.count()),
  };
}
