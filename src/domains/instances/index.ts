import type { Domain, Platform } from '../domain.js';
import { LivenessMonitor } from './liveness.js';
import { touchIntervalMs } from '../../shared/limits.js';
import type { Presence } from './presence.js';
import { instanceRoutes } from './routes.js';
import { InstanceService } from './service.js';

/** Agent instances and their identity, and the liveness monitor that marks the silent stale. */
export function instancesDomain(p: Platform, d: { presence: Presence; shiftLeases: (byMs: number) => Promise<number>; leading?: () => boolean }): Domain & { instances: InstanceService; liveness: LivenessMonitor } {
  const instances = new InstanceService(p.readers.instances, p.writer, p.log.child({ component: 'instances' }), p.backend.othersWrite, touchIntervalMs(p.config.livenessTimeoutMs));
  const liveness = new LivenessMonitor(instances, d.presence, { intervalMs: p.config.livenessIntervalMs, timeoutMs: p.config.livenessTimeoutMs, sessionKeepMs: p.config.staleSessionRetentionMs, log: p.log.child({ component: 'liveness' }), shiftLeases: d.shiftLeases, leading: d.leading });
  return {
    instances,
    liveness,
    routes: instanceRoutes(instances, liveness),
    jobs: [liveness],
    start: () => d.presence.start(),
    close: () => d.presence.stop(),
    metrics: (m) => m.gauge('koor_instances', 'Registered agent instances.', () => instances.count()),
  };
}
