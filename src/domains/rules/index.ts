import type { Domain, Platform } from '../domain.js';
import { ruleRoutes } from './routes.js';
import { RuleService } from './service.js';

/** Validation rules and their proposal lifecycle. */
export function rulesDomain(p: Platform): Domain & { rules: RuleService } {
  const rules = new RuleService(p.readers.rules, p.writer, p.pool, p.backend.othersWrite);
  return { rules, routes: ruleRoutes(rules) };
}
