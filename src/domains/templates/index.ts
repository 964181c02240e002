import type { RuleService } from '../rules/service.js';
import type { SpecService } from '../specs/service.js';
import type { Domain, Platform } from '../domain.js';
import { templateRoutes } from './routes.js';
import { TemplateService } from './service.js';

/** Templates: stored rule sets and specs, applied to a project. */
export function templatesDomain(p: Platform, d: { rules: RuleService; specs: SpecService }): Domain {
  const templates = new TemplateService(p.readers.templates, p.writer, {
    importRules: (list, opts) => d.rules.import(list, opts),
    putSpec: (project, name, data, audit) => d.specs.put(project, name, data, {}, audit),
  });
  return { routes: templateRoutes(templates) };
}
