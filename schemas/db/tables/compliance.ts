import type { Table } from '../table.js';

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
