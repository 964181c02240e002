import type { SpecService } from '../specs/service.js';
import type { Domain, Platform } from '../domain.js';
import { contractRoutes } from './routes.js';
import { ContractService } from './service.js';

/** Contract validation and tests against stored specs, on the worker pool. */
export function contractsDomain(p: Platform, d: { specs: SpecService }): Domain {
  return { routes: contractRoutes(new ContractService(d.specs, p.pool)) };
}
