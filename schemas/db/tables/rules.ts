import type { Table } from '../table.js';

/** Validation rules and their lifecycle (SPEC §2.7–2.8). */
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

/** Templates (SPEC §2.12). */
export const TEMPLATES: Table = {
  name: 'templates',
  columns: {
    id: { type: 'text', primaryKey: true },
    name: { type: 'text' },
    description: { type: 'text', default: "''" },
    kind: { type: 'text', default: "'rules'" },
    data: { type: 'text' },
    tags: { type: 'text', default: "'[]'" },
    version: { type: 'int', default: 1 },
    created_at: { type: 'text' },
    updated_at: { type: 'text' },
  },
  seq: 'plain',
};

/** Compliance runs (SPEC §2.10), kept per (agent, contract). */
export const COMPLIANCE_RUNS: Table = {
  name: 'compliance_runs',
  columns: {
    id: { type: 'int', id: 'log' },
    instance_id: { type: 'text' },
    project: { type: 'text' },
    contract: { type: 'text' },
    pass: { type: 'int' },
    violations: { type: 'text', default: "'[]'" },
    run_at: { type: 'text' },
  },
  indexes: [{ name: 'compliance_runs_instance', on: 'instance_id, contract, id' }],
};
