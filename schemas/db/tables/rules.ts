import { Type } from '../../typebox.js';
import { f, input, omitEmpty, record } from '../record.js';

/**
 * A validation rule and its lifecycle. Its reply is each element of the rule lists, which leave
 * `proposed_by`, `context` and `created_at` out when empty; its `input` fields are what the writer
 * is given to store one (PUT rules, propose, import; the rules service applies the defaults),
 * `status` and `created_at` being the writer's.
 */
export const RULE = record(
  'validation_rules',
  {
    project: input(f.text()),
    rule_id: input(f.text()),
    severity: input(f.text({ default: "'error'" })),
    match_type: input(f.text({ default: "'regex'" })),
    pattern: input(f.text()),
    message: input(f.text({ default: "''" })),
    stack: input(f.text({ default: "''" })),
    /** Globs of the files it checks: `["*"]` when the client sent none; `[]` matches every file too. */
    applies_to: input(f.list(Type.String(), { default: `'["*"]'` })),
    source: input(f.text({ default: "'local'" })),
    /** `accepted`, `proposed` or `rejected`. */
    status: f.text({ default: "'accepted'" }),
    proposed_by: input(omitEmpty(f.text({ default: "''" }))),
    context: input(omitEmpty(f.text({ default: "''" }))),
    /** Storage text `YYYY-MM-DD HH:MM:SS` in replies too, not RFC 3339: the original's replies showed it so. */
    created_at: omitEmpty(f.text()),
  },
  { primaryKey: ['project', 'rule_id'] },
);
export const VALIDATION_RULES = RULE.table;
/** A validation_rules row as the database returns it (`applies_to` JSON text). */
export type RuleDbRow = Parameters<typeof RULE.decode>[0];
