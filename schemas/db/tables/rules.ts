import type { Table } from '../table.js';

/** Validation rules and their lifecycle. */
export const VALIDATION_RULES: Table = {
  name: 'validation_rules',
  columns: {
    project: { type: 'text' },
    rule_id: { type: 'text' },
    severity: { type: 'text', default: "'error'" },
    match_type: { type: 'text', default: "'regex'" },
    pattern: { type: 'text' },
    message: { type: 'text', default: "''" },
    stack: { type: 'text', default: "''" },
    applies_to: { type: 'text', default: `'["*"]'` },
    source: { type: 'text', default: "'local'" },
    status: { type: 'text', default: "'accepted'" },
    proposed_by: { type: 'text', default: "''" },
    context: { type: 'text', default: "''" },
    created_at: { type: 'text' },
  },
  primaryKey: ['project', 'rule_id'],
};
