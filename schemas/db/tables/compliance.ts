import type { Table } from '../table.js';

/**
 * Compliance runs: the newest 100 per (agent, contract) while the agent is
 * registered; once it is gone (deregistered, or its coding-agent session ended), its runs stay as
 * long as the audit log keeps entries, then retention removes them by `run_at`.
 */
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
  indexes: [
    { name: 'compliance_runs_instance', on: 'instance_id, contract, id' },
    { name: 'compliance_runs_run_at', on: 'run_at' },
  ],
};
