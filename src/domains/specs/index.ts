import type { Domain, Platform } from '../domain.js';
import { specRoutes } from './routes.js';
import { SpecService } from './service.js';

/** The spec registry. */
export function specsDomain(p: Platform): Domain & { specs: SpecService } {
  const specs = new SpecService(p.readers.specs, p.writer, () => p.readers.state.newestRevision());
  return { specs, routes: specRoutes(specs) };
}
