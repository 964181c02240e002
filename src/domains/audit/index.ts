import type { Domain, Platform } from '../domain.js';
import { Denials } from './denials.js';
import { auditRoutes } from './routes.js';
import { AuditService } from './service.js';

/** The audit log: written by the writer with each audited write, read here; and the refusals of the routes' and tools' rules. */
export function auditDomain(p: Platform): Domain & { denials: Denials } {
  const denials = new Denials(p.writer, p.log.child({ component: 'auth' }));
  return {
    denials,
    routes: auditRoutes(new AuditService(p.readers.audit)),
    metrics: (m) => {
      m.labeled('koor_auth_denied_total', 'Calls the permission table refused, by the role of the token.', 'counter', () =>
        (Object.keys(denials.counts) as Array<keyof typeof denials.counts>).map((role) => ({ labels: { role }, value: denials.counts[role] })),
      );
    },
  };
}
