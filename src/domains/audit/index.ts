import type { Domain, Platform } from '../domain.js';
import { auditRoutes } from './routes.js';
import { AuditService } from './service.js';

/** The audit log (SPEC §2.13): written by the writer with each audited write, read here. */
export function auditDomain(p: Platform): Domain {
  return { routes: auditRoutes(new AuditService(p.readers.audit)) };
}
