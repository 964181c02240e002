import { BACKUP_TIMEOUT_MS, RESTORE_MAX_BYTES } from '../../shared/limits-features.js';
import type { Domain, Platform } from '../domain.js';
import { adminRoutes } from './routes.js';
import { AdminService } from './service.js';

/** Online backup and live restore, of whatever the backend's snapshots are. */
export function adminDomain(p: Platform, d: { bootId: string; onRestore?: (file: string) => void }): Domain {
  const admin = new AdminService({
    snapshots: p.backend.snapshots,
    timeoutMs: BACKUP_TIMEOUT_MS,
    restoreMaxBytes: RESTORE_MAX_BYTES,
    log: p.log.child({ component: 'admin' }),
    ...(d.onRestore ? { onRestore: d.onRestore } : {}),
  });
  return { routes: adminRoutes(admin, d.bootId) };
}
