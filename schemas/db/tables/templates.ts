import { Type } from '../../typebox.js';
import { f, omit, record } from '../record.js';

/**
 * A template: a rule set or a spec, applied to a project. Its reply is POST /api/templates' and
 * GET /api/templates/{id}'s; GET /api/templates lists it without its data (TEMPLATE_SUMMARY).
 */
export const TEMPLATE = record(
  'templates',
  {
    id: f.text({ primaryKey: true }),
    name: f.text(),
    description: f.text({ default: "''" }),
    /** Any string: `rules` (applied as rules), `contracts`, `bundle`, … */
    kind: f.text({ default: "'rules'" }),
    /** Any JSON, kept as sent, whitespace included (a template applied as a spec is these bytes); compacted in replies. */
    data: f.raw({ default: undefined }),
    tags: f.list(Type.String()),
    version: f.int({ default: 1 }),
    created_at: f.time(),
    updated_at: f.time(),
  },
  { seq: 'plain' },
);
export const TEMPLATES = TEMPLATE.table;
/** A template as GET /api/templates lists it: everything but its data, which the list does not read. */
export const TEMPLATE_SUMMARY = omit(TEMPLATE, 'data');
