import type { Domain, Platform } from '../domain.js';
import { stateRoutes } from './routes.js';
import { StateService } from './service.js';

/** The state store (SPEC §2.2): values with versions, history and rollback; a read cache where one writer is behind it. */
export function stateDomain(p: Platform): Domain & { state: StateService } {
  const state = new StateService(p.readers.state, p.writer, p.pool, p.config.cacheBytes, p.backend.othersWrite);
  return {
    state,
    routes: stateRoutes(state),
    metrics(m) {
      m.gauge('koor_state_keys', 'State keys stored.', () => state.count());
      m.counter('koor_state_cache_hits_total', 'State reads answered from the front cache.', () => state.cache.stats.hits);
      m.counter('koor_state_cache_misses_total', 'State reads that went to the database.', () => state.cache.stats.misses);
      m.gauge('koor_state_cache_bytes', 'Bytes held by the state cache.', () => state.cache.usedBytes);
    },
  };
}
