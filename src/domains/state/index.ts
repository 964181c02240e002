import type { Domain, Platform } from '../domain.js';
import { stateRoutes } from './routes.js';
import { StateService } from './service.js';

/** The state store (SPEC §2.2): values with versions, history and rollback; a read cache where one writer is behind it. */
export function stateDomain(p: Platform): Domain & { state: StateService } {
  const state = new StateService(p.readers.state, p.writer, p.pool, p.config.cacheBytes, p.backend.othersWrite);
  return { state, routes: stateRoutes(state) };
}
